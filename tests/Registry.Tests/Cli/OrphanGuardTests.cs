using System.Diagnostics;
using Registry.Host.Demo;

namespace Registry.Tests.Cli;

public sealed class OrphanGuardTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task A_guard_of_a_process_group_kills_what_the_process_started_too()
    {
        // A shell in a session of its own, as ChildProcess starts one, that starts a sleep and prints its pid.
        var start = new ProcessStartInfo("setsid") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var arg in new[] { "sh", "-c", "sleep 60 & echo $!; wait" }) start.ArgumentList.Add(arg);
        using var leader = Process.Start(start)!;
        var started = int.Parse((await leader.StandardOutput.ReadLineAsync())!);
        using var guard = OrphanGuard.Watch(leader, group: true);

        guard.Fire();

        await leader.WaitForExitAsync().WaitAsync(Wait);
        await AwaitGoneAsync(started);
    }

    [Fact]
    public async Task A_guard_that_fires_removes_the_directory_after_the_process()
    {
        var directory = Directory.CreateTempSubdirectory("orphan guard 'test' ").FullName;
        File.WriteAllText(Path.Combine(directory, "data"), "x");
        using var sleeper = Process.Start("sleep", "60");
        using var guard = OrphanGuard.Watch(sleeper, directory: directory);

        guard.Fire();

        await sleeper.WaitForExitAsync().WaitAsync(Wait);
        Assert.False(Directory.Exists(directory), $"'{directory}' is left behind");
    }

    [Theory]
    [InlineData("INT", 2)]
    [InlineData("HUP", 1)]
    [InlineData("TERM", 15)]
    public async Task A_guard_outlives_the_signals_a_terminal_sends_the_whole_group(string signal, int number)
    {
        using var sleeper = Process.Start("sleep", "60");
        using var guard = OrphanGuard.Watch(sleeper);
        // The guard's shell, by its arguments: "sh -c <script> orphan-guard <pid>".
        var shell = Directory.EnumerateDirectories("/proc")
            .Select(dir => (Dir: dir, Args: TryRead(Path.Combine(dir, "cmdline"))))
            .Single(p => p.Args.EndsWith($"\0orphan-guard\0{sleeper.Id}\0", StringComparison.Ordinal)).Dir;
        // Sent once the script runs: before its first line any shell dies of it.
        var deadline = Stopwatch.StartNew();
        while (!Ignores(TryRead(Path.Combine(shell, "status")), number))
        {
            Assert.True(deadline.Elapsed < Wait, $"the guard's shell does not ignore SIG{signal}");
            await Task.Delay(10);
        }
        using (var kill = Process.Start("kill", ["-" + signal, Path.GetFileName(shell)]))
        {
            await kill.WaitForExitAsync();
        }

        guard.Fire();

        await sleeper.WaitForExitAsync().WaitAsync(Wait);
    }

    /// <summary>Whether <c>/proc/PID/status</c> text <paramref name="status"/> has signal <paramref name="number"/> ignored.</summary>
    private static bool Ignores(string status, int number) =>
        status.Split('\n').FirstOrDefault(l => l.StartsWith("SigIgn:", StringComparison.Ordinal)) is { } line
        && (Convert.ToUInt64(line["SigIgn:".Length..].Trim(), 16) & (1UL << (number - 1))) != 0;

    private static string TryRead(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (IOException)
        {
            return "";
        }
    }

    /// <summary>Until <paramref name="pid"/> is gone or a zombie waiting to be reaped.</summary>
    private static async Task AwaitGoneAsync(int pid)
    {
        var deadline = Stopwatch.StartNew();
        while (File.Exists($"/proc/{pid}/stat") && !(await File.ReadAllTextAsync($"/proc/{pid}/stat")).Contains(") Z "))
        {
            Assert.True(deadline.Elapsed < Wait, $"process {pid} still runs");
            await Task.Delay(20);
        }
    }
}
