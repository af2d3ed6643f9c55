using System.Diagnostics;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// Scratch directories for this test process, all under one temp root that is removed when the process exits,
/// so data dirs do not pile up even when a fixture is never disposed. Roots left by test processes that were
/// killed outright are swept when the next one starts.
/// </summary>
public static class TestDirectories
{
    private const string RootPrefix = "registry-tests-";

    private static readonly Lazy<string> Root = new(CreateRoot);

    /// <summary>Creates a new empty directory whose name starts with <paramref name="prefix"/>.</summary>
    public static string Create(string prefix) =>
        Directory.CreateDirectory(Path.Combine(Root.Value, $"{prefix}-{Guid.NewGuid():N}")).FullName;

    /// <summary>Deletes a directory tree, ignoring one that is already gone.</summary>
    public static void Delete(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
        }
    }

    private static string CreateRoot()
    {
        SweepRootsOfDeadProcesses();
        var root = Directory.CreateTempSubdirectory($"{RootPrefix}{Environment.ProcessId}-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Delete(root);
        return root;
    }

    private static void SweepRootsOfDeadProcesses()
    {
        foreach (var dir in Directory.EnumerateDirectories(Path.GetTempPath(), RootPrefix + "*"))
        {
            var name = Path.GetFileName(dir)[RootPrefix.Length..];
            if (int.TryParse(name.Split('-')[0], out var pid) && !IsAlive(pid))
            {
                try
                {
                    Delete(dir);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // someone else's, or being swept by a parallel test run: leave it
                }
            }
        }
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
