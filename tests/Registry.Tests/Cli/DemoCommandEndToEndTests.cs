using System.Diagnostics;
using System.Text.RegularExpressions;
using Registry.Host.Cli;
using Registry.Tests.Call;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary><c>registry demo</c> as a user runs it: the whole tour, on its own etcd (about 25 s; one still running after 90 s fails).</summary>
[Collection(WallClockFaults.Name)]
public sealed partial class DemoCommandEndToEndTests
{
    [GeneratedRegex(@"^\s+(127\.0\.0\.1:\d+)\s+(\d+)$", RegexOptions.Multiline)]
    private static partial Regex InstanceCount();

    [Fact]
    public async Task The_demo_tours_registration_discovery_and_failover_without_a_failed_call()
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        start.ArgumentList.Add("demo");
        // The tour runs on an etcd of its own: it does not even read the user's.
        start.Environment[CommonOptions.EtcdVariable] = "not a URL";
        using var demo = ChildProcess.Start(start);
        var stderr = demo.Process.StandardError.ReadToEndAsync();
        var stdout = await demo.Process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(90));
        await demo.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.True(demo.Process.ExitCode == 0, $"exit {demo.Process.ExitCode}\n{stdout}\n{await stderr}");
        Assert.Equal(3, Regex.Matches(stdout, @"membership: \+ ").Count);
        Assert.Equal(2, Regex.Matches(stdout, @"membership: - ").Count);
        Assert.Contains("exited with code 0", stdout);
        Assert.Equal(3, InstanceCount().Matches(stdout).Count(m => long.Parse(m.Groups[2].Value) > 0));
        Assert.Matches(@"\d+ calls, 0 failed", stdout);
    }

    [Fact]
    public async Task An_interrupted_demo_stops_at_once_and_cleans_up()
    {
        using var demo = RegistryProcess.Start(["demo"], interruptible: true);
        var seen = new List<string>();
        do seen.Add(await demo.NextLineAsync(TimeSpan.FromSeconds(60)));
        while (!seen[^1].Contains("a client calls"));
        var dataDir = Regex.Match(string.Join('\n', seen), @"\(data in (\S+),").Groups[1].Value;
        Assert.True(Directory.Exists(dataDir), $"etcd's data directory '{dataDir}' while the demo runs");

        demo.Interrupt();

        var rest = await demo.ReadToEndAsync();
        Assert.Equal(1, await demo.WaitForExitAsync());
        Assert.Contains(rest, l => l.EndsWith("] interrupted", StringComparison.Ordinal));
        Assert.DoesNotContain(rest, l => l.Contains("SIGKILL"));
        Assert.False(Directory.Exists(dataDir), $"etcd's data directory {dataDir} is left behind");
    }

    [Fact]
    public async Task A_demo_killed_with_SIGKILL_leaves_no_process_or_data_behind()
    {
        using var demo = RegistryProcess.Start("demo");
        var dataDir = "";
        try
        {
            var seen = new List<string>();
            do seen.Add(await demo.NextLineAsync(TimeSpan.FromSeconds(60)));
            while (!seen[^1].Contains("a client calls"));
            dataDir = Regex.Match(string.Join('\n', seen), @"\(data in (\S+),").Groups[1].Value;
            Assert.True(Directory.Exists(dataDir), $"etcd's data directory '{dataDir}' while the demo runs");
            Assert.Contains(GroupMembers(demo.Id), pid => pid != demo.Id);

            demo.Kill();

            // Its etcd and instances share the process group it leads (RegistryProcess starts it under setsid).
            await Eventually.UntilAsync(() => GroupMembers(demo.Id).Count == 0, "the demo's etcd and instances to be killed");
            await Eventually.UntilAsync(() => !Directory.Exists(dataDir), $"etcd's data directory {dataDir} to be removed");
        }
        finally
        {
            // Whatever the test got to: the group outlives its leader, and disposing the demo reaches only the leader's tree.
            using var kill = Process.Start("kill", ["-9", "--", $"-{demo.Id}"]);
            await kill.WaitForExitAsync();
            if (dataDir != "" && Directory.Exists(dataDir)) Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>The processes of process group <paramref name="group"/> that have not ended (zombies left out).</summary>
    private static List<int> GroupMembers(int group)
    {
        var members = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (IOException)
            {
                continue; // ended meanwhile
            }
            // pid (comm) state ppid pgrp …: comm may hold spaces and parentheses, so read after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            if (fields[0] != "Z" && fields[2] == $"{group}") members.Add(pid);
        }
        return members;
    }
}
