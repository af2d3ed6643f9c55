using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Registry.Host.Cli;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Call;

/// <summary><c>registry call</c> against real etcd and three in-process UserService instances.</summary>
public sealed partial class CallCommandTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [GeneratedRegex("""^\{"calls":\d+,"failures":\d+,"byInstance":\{("[^"]+":\d+(,"[^"]+":\d+)*)?\},"p50Ms":[0-9.]+,"p99Ms":[0-9.]+\}$""")]
    private static partial Regex SummaryLine();

    [Fact]
    public async Task Call_json_prints_the_summary_with_calls_on_every_instance_and_exits_0()
    {
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var servers = await Servers.StartAsync(etcd, service);

        var (code, stdout, stderr) = await RunRegistryAsync("call", "--service", service, "--count", "300", "--concurrency", "4",
            "--json", "--etcd", etcd.Endpoint);

        Assert.True(code == 0, $"exit {code}; stderr:\n{stderr}");
        var last = Assert.Single(stdout.TrimEnd('\n').Split('\n'));
        Assert.Matches(SummaryLine(), last);
        var summary = JsonDocument.Parse(last).RootElement;
        Assert.Equal(300, summary.GetProperty("calls").GetInt64());
        Assert.Equal(0, summary.GetProperty("failures").GetInt64());
        var byInstance = summary.GetProperty("byInstance").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64());
        Assert.Equal(servers.Ids.Order(), byInstance.Keys.Order());
        Assert.All(byInstance.Values, count => Assert.True(count > 0));
        Assert.Equal(300, byInstance.Values.Sum());
        var (p50, p99) = (summary.GetProperty("p50Ms").GetDouble(), summary.GetProperty("p99Ms").GetDouble());
        Assert.True(p50 > 0 && p50 <= p99, $"p50 {p50} ms, p99 {p99} ms");
    }

    [Fact]
    public async Task Call_without_json_prints_a_table_of_instances_and_a_total()
    {
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var servers = await Servers.StartAsync(etcd, service);

        var (code, stdout, stderr) = await InvokeAsync("call", "--service", service, "--count", "300", "--lb", "p2c", "--etcd", etcd.Endpoint);

        Assert.True(code == 0, $"exit {code}; stderr:\n{stderr}");
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.Matches(@"^INSTANCE +CALLS +SHARE$", lines[0]);
        Assert.Equal(servers.Ids.Order(), lines[1..^1].Select(l => l.Split(' ')[0]).Order());
        Assert.Matches(@"^300 calls, 0 failed, p50 [0-9.]+ ms, p99 [0-9.]+ ms$", lines[^1]);
    }

    [Fact]
    public async Task Call_exits_1_saying_why_when_no_instance_appears_within_the_wait()
    {
        var (code, stdout, stderr) = await InvokeAsync("call", "--service", "nobody", "--wait", "2", "--json", "--etcd", etcd.Endpoint);

        Assert.Equal(1, code);
        Assert.Empty(stdout);
        Assert.Contains("registry: waiting up to 2s for an instance of 'nobody'", stderr);
        Assert.Contains("registry: no instance to call after 2s: no instance of 'nobody' is registered", stderr);
    }

    [Theory]
    [InlineData("--count 0", "registry: --count 0: expected a whole number from 1 to 1000000000")]
    [InlineData("--count 5 --duration 5", "registry: --count and --duration: give one or the other, not both")]
    [InlineData("--duration soon", "registry: --duration 'soon': expected a whole number from 1 to 86400")]
    [InlineData("--concurrency 0", "registry: --concurrency 0: expected a whole number from 1 to 1024")]
    [InlineData("--lb fastest", "registry: --lb 'fastest': expected one of random, round-robin, weighted, p2c, hash")]
    [InlineData("--deadline -1", "registry: --deadline -1: expected a whole number from 1 to 600000")]
    public async Task Bad_arguments_exit_2_with_one_line_naming_the_argument(string args, string message)
    {
        var (code, stdout, stderr) = await InvokeAsync(["call", "--service", "user", .. args.Split(' '), "--etcd", etcd.Endpoint]);

        Assert.Equal(2, code);
        Assert.Empty(stdout);
        Assert.Equal(message, stderr.TrimEnd('\n'));
    }

    [Fact]
    public async Task A_missing_service_exits_2()
    {
        var (code, _, stderr) = await InvokeAsync("call", "--count", "1");

        Assert.Equal(2, code);
        Assert.Equal("registry: --service: missing; 'registry call' requires it", stderr.TrimEnd('\n'));
    }

    private static async Task<(int Code, string Stdout, string Stderr)> InvokeAsync(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await RegistryCommand.InvokeAsync(args, stdout, stderr, _ => null);
        return (code, stdout.ToString(), stderr.ToString());
    }

    /// <summary>Runs the built registry binary (next to the tests) to its end.</summary>
    private static async Task<(int Code, string Stdout, string Stderr)> RunRegistryAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        start.Environment.Remove(CommonOptions.EtcdVariable);
        start.Environment.Remove(CommonOptions.LogLevelVariable);
        using var registry = ChildProcess.Start(start);
        var stdout = registry.Process.StandardOutput.ReadToEndAsync();
        var stderr = registry.Process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await registry.Process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            registry.Process.Kill(entireProcessTree: true);
            throw new Xunit.Sdk.XunitException($"registry {string.Join(' ', args)} did not exit; stderr:\n{await stderr}");
        }
        return (registry.Process.ExitCode, await stdout, await stderr);
    }

    /// <summary>Three registered UserService instances of one service.</summary>
    private sealed class Servers : IAsyncDisposable
    {
        private readonly List<UserServer> _servers = [];

        public IEnumerable<string> Ids => _servers.Select(s => s.Id);

        public static async Task<Servers> StartAsync(EtcdNode etcd, string service)
        {
            var servers = new Servers();
            for (var i = 0; i < 3; i++) servers._servers.Add(await UserServer.StartNewAsync([etcd.Endpoint], service));
            return servers;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var server in _servers) await server.DisposeAsync();
        }
    }
}
