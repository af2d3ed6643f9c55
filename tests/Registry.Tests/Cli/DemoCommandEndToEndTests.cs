using System.Diagnostics;
using System.Text.RegularExpressions;
using Registry.Host.Cli;
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
}
