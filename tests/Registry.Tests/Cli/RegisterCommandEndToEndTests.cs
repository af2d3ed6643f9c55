using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Registry.Host.Cli;

namespace Registry.Tests.Cli;

/// <summary>
/// The built <c>registry</c> binary against a real etcd: registers, is listed, leaves on SIGTERM.
/// Needs <c>etcd</c> and <c>etcdctl</c> on the PATH.
/// </summary>
public sealed class RegisterCommandEndToEndTests : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly LocalEtcd _etcd = new();

    public Task InitializeAsync() => _etcd.StartAsync();

    public Task DisposeAsync() => _etcd.DisposeAsync().AsTask();

    [Fact]
    public async Task Register_holds_the_key_until_SIGTERM_then_deregisters_and_exits_0()
    {
        const string key = "/services/user/127.0.0.1:18080";
        using var registry = RegistryProcess.Start("register", "--service", "user", "--address", "127.0.0.1:18080",
            "--meta", "zone=a", "--etcd", _etcd.Url);

        var registered = await registry.NextEventAsync();
        Assert.Equal("registered", registered.GetProperty("event").GetString());
        Assert.Equal(key, registered.GetProperty("key").GetString());
        Assert.Equal(key, (await _etcd.CtlAsync("get", "--prefix", "/services/", "--keys-only")).Trim());

        var (code, listed, warnings) = await ListInProcessAsync();
        Assert.Equal(0, code);
        var instance = JsonDocument.Parse(Assert.Single(listed)).RootElement;
        Assert.Equal("127.0.0.1:18080", instance.GetProperty("address").GetString());
        Assert.Equal("a", instance.GetProperty("metadata").GetProperty("zone").GetString());
        Assert.Equal(key, instance.GetProperty("key").GetString());
        Assert.Empty(warnings);

        registry.Terminate();

        Assert.Equal(0, await registry.WaitForExitAsync());
        var deregistered = await registry.NextEventAsync();
        Assert.Equal("deregistered", deregistered.GetProperty("event").GetString());
        Assert.Equal(registered.GetProperty("lease").GetString(), deregistered.GetProperty("lease").GetString());
        Assert.Empty((await _etcd.CtlAsync("get", "--prefix", "/services/", "--keys-only")).Trim());
    }

    [Fact]
    public async Task Older_process_reports_the_conflict_and_exits_1_when_a_newer_one_takes_the_id()
    {
        string[] args = ["register", "--service", "user", "--address", "127.0.0.1:18081", "--ttl", "2", "--etcd", _etcd.Url];
        using var older = RegistryProcess.Start(args);
        Assert.Equal("registered", (await older.NextEventAsync()).GetProperty("event").GetString());

        using var newer = RegistryProcess.Start(args);
        var taken = await newer.NextEventAsync();
        Assert.Equal("registered", taken.GetProperty("event").GetString());

        var conflict = await older.NextEventAsync();
        Assert.Equal("conflict", conflict.GetProperty("event").GetString());
        Assert.Equal(1, await older.WaitForExitAsync());
        newer.Terminate();
        Assert.Equal(0, await newer.WaitForExitAsync());
    }

    [Fact]
    public async Task SIGTERM_while_etcd_is_unreachable_exits_0()
    {
        using var registry = RegistryProcess.Start("register", "--service", "user", "--address", "127.0.0.1:18082",
            "--etcd", $"http://127.0.0.1:{LocalEtcd.FreePort()}");
        Assert.Equal("delayed", (await registry.NextEventAsync()).GetProperty("event").GetString());

        registry.Terminate();

        Assert.Equal(0, await registry.WaitForExitAsync());
    }

    [Fact]
    public async Task List_skips_a_value_that_does_not_decode_and_names_its_key()
    {
        await _etcd.CtlAsync("put", "/services/user/garbage", "not json");

        var (code, listed, warnings) = await ListInProcessAsync();

        Assert.Equal(0, code);
        Assert.Empty(listed);
        Assert.StartsWith("registry: skipping /services/user/garbage: ", Assert.Single(warnings));
    }

    private async Task<(int Code, string[] Stdout, string[] Stderr)> ListInProcessAsync()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var code = await RegistryCommand.InvokeAsync(["list", "--json", "--etcd", _etcd.Url], stdout, stderr, _ => null);
        return (code, Lines(stdout), Lines(stderr));

        static string[] Lines(StringWriter w) => w.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    /// <summary>
    /// A throw-away single-member etcd on free loopback ports, removed with its data directory on dispose.
    /// Kept private and minimal on purpose: shared etcd fixtures live in tests/Registry.Tests/Infrastructure.
    /// </summary>
    private sealed class LocalEtcd : IAsyncDisposable
    {
        private readonly string _dataDir = Directory.CreateTempSubdirectory("registry-cli-etcd-").FullName;
        private Process? _process;

        public string Url { get; } = $"http://127.0.0.1:{FreePort()}";

        public async Task StartAsync()
        {
            var peer = $"http://127.0.0.1:{FreePort()}";
            var start = new ProcessStartInfo("etcd")
            {
                ArgumentList =
                {
                    "--data-dir", _dataDir, "--name", "cli-test",
                    "--listen-client-urls", Url, "--advertise-client-urls", Url,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", $"cli-test={peer}",
                },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            _process = Process.Start(start)!;
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
            var deadline = DateTime.UtcNow + Patience;
            while (true)
            {
                try
                {
                    await CtlAsync("endpoint", "health");
                    return;
                }
                catch (InvalidOperationException) when (DateTime.UtcNow < deadline && !_process.HasExited)
                {
                    await Task.Delay(100);
                }
            }
        }

        /// <summary>Runs etcdctl against this etcd and returns its stdout; throws when it fails.</summary>
        public async Task<string> CtlAsync(params string[] args)
        {
            var start = new ProcessStartInfo("etcdctl") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add("--endpoints");
            start.ArgumentList.Add(Url);
            foreach (var arg in args) start.ArgumentList.Add(arg);
            using var ctl = Process.Start(start)!;
            var stdout = ctl.StandardOutput.ReadToEndAsync();
            var stderr = ctl.StandardError.ReadToEndAsync();
            await ctl.WaitForExitAsync();
            if (ctl.ExitCode != 0) throw new InvalidOperationException($"etcdctl {string.Join(' ', args)}: {await stderr}");
            return await stdout;
        }

        public async ValueTask DisposeAsync()
        {
            if (_process is not null)
            {
                if (!_process.HasExited) _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync();
                _process.Dispose();
            }
            Directory.Delete(_dataDir, recursive: true);
        }

        public static int FreePort()
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return ((IPEndPoint)listener.LocalEndpoint).Port;
        }
    }
}
