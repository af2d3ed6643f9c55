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

    [Fact]
    public async Task A_guard_whose_first_removal_leaves_the_directory_tries_again()
    {
        var directory = Directory.CreateTempSubdirectory("orphan guard retry ").FullName;
        File.WriteAllText(Path.Combine(directory, "data"), "x");
        var pinned = Path.Combine(directory, "pinned");
        Directory.CreateDirectory(pinned);
        var file = Path.Combine(pinned, "data");
        File.WriteAllText(file, "x");
        // What the dying target may still hold: a file rm cannot remove yet.
        await PinAsync(pinned, file, pin: true);
        try
        {
            using var sleeper = Process.Start("sleep", "60");
            using var guard = OrphanGuard.Watch(sleeper, directory: directory);
            var shell = GuardShell(sleeper.Id);

            var fired = Task.Run(guard.Fire);
            // The first removal has failed once the shell sleeps before the next; a guard that tries once just ends. Seen
            // within the tries left (0.8 s of sleeps; the wait polls every 5 ms), the shell is held while the file is
            // made removable, however long that takes.
            var deadline = Stopwatch.StartNew();
            while (!fired.IsCompleted && !SleepingChildOf(shell))
            {
                Assert.True(deadline.Elapsed < Wait, "the guard neither ended nor tried again");
                await Task.Delay(5);
            }
            // A shell that ended is not signalled: its pid may be another process's by now.
            if (!fired.IsCompleted) Kill(shell, SigStop);
            try
            {
                await PinAsync(pinned, file, pin: false);
            }
            finally
            {
                if (!fired.IsCompleted) Kill(shell, SigCont);
            }
            await fired.WaitAsync(Wait);

            Assert.False(Directory.Exists(directory), $"'{directory}' is left behind");
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                await PinAsync(pinned, file, pin: false);
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    /// <summary>
    /// Makes <paramref name="file"/> one rm cannot remove, or removable again: immutable for root, whom permissions do
    /// not stop; else by taking the write permission of <paramref name="directory"/>, which holds it.
    /// </summary>
    private static async Task PinAsync(string directory, string file, bool pin)
    {
        string[] command = Environment.IsPrivilegedProcess ? ["chattr", pin ? "+i" : "-i", file] : ["chmod", pin ? "500" : "700", directory];
        using var process = Process.Start(command[0], command[1..]);
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{string.Join(' ', command)} failed");
    }

    private const int SigStop = 19;
    private const int SigCont = 18;

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill")]
    private static extern int Kill(int pid, int signal);

    /// <summary>The pid of the guard's shell of <paramref name="target"/>, by its arguments: "sh -c &lt;script&gt; orphan-guard &lt;pid&gt; …".</summary>
    private static int GuardShell(int target) =>
        int.Parse(Path.GetFileName(Directory.EnumerateDirectories("/proc")
            .Where(dir => int.TryParse(Path.GetFileName(dir), out _))
            .Single(dir => TryRead(Path.Combine(dir, "cmdline")).Contains($"\0orphan-guard\0{target}\0", StringComparison.Ordinal))));

    /// <summary>Whether <paramref name="parent"/> has a <c>sleep</c> child running.</summary>
    private static bool SleepingChildOf(int parent) =>
        Directory.EnumerateDirectories("/proc")
            .Where(dir => int.TryParse(Path.GetFileName(dir), out _))
            .Select(dir => TryRead(Path.Combine(dir, "stat")))
            .Any(stat => stat.Contains(" (sleep) ", StringComparison.Ordinal)
                         && stat[(stat.LastIndexOf(')') + 2)..].Split(' ') is [_, var ppid, ..] && ppid == $"{parent}");

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
