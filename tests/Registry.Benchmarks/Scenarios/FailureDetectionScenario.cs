using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using Akka.Actor;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// Failure detection: a <c>registry register</c> child process (TTL <c>ttl</c>) is killed with SIGKILL, or stopped
/// with SIGTERM, and the clock runs from the signal until a WatcherActor in this process reports the instance
/// <c>down</c>. The baseline is the same DELETE seen by a raw Watch stream in the same process: for SIGKILL that is
/// when etcd expires the lease, for SIGTERM when the child's revoke lands. The signal is sent at a random point of the
/// renewal cycle.
/// </summary>
public sealed class FailureDetectionScenario(string endpoint, long ttl, int killRuns, int termRuns)
{
    private const string Service = "failure";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private const int SigTerm = 15;

    public async Task RunAsync(Report report)
    {
        using var raw = new RawEtcd(endpoint);
        var prefix = InstanceCodec.ServicePrefix(InstanceCodec.DefaultPrefix, Service);
        await raw.DeletePrefixAsync(prefix);
        var system = RegistrySystem.Create("watcher", endpoint);
        try
        {
            var recorder = new DownRecorder();
            var subscriber = system.ActorOf(Props.Create(() => new RecorderActor(recorder)));
            ServiceRegistry.Get(system).Discovery.Tell(new SubscribeMembership(Service), subscriber);
            await using var watch = await raw.WatchAsync(prefix, CancellationToken.None);

            var kill = (Registry: new List<double>(), Raw: new List<double>());
            var term = (Registry: new List<double>(), Raw: new List<double>());
            var port = 21000;
            for (var run = 0; run < killRuns; run++) Add(kill, await RunOnceAsync(recorder, watch, prefix, port++, sigkill: true));
            for (var run = 0; run < termRuns; run++) Add(term, await RunOnceAsync(recorder, watch, prefix, port++, sigkill: false));

            var killRegistry = Figure.Of(kill.Registry);
            var killRaw = Figure.Of(kill.Raw);
            var limitMs = ttl * 1000 + 500;
            report.Rows.Add(new Row("failure detection", $"kill -9 → down (TTL {ttl} s)", "ms", $"median of {killRuns} runs", killRegistry, killRaw,
                $"max ≤ TTL + 0.5 s = {limitMs:N0} ms", killRegistry.Max <= limitMs,
                "raw = the DELETE from etcd's lease expiry at a raw watch; the lease expires TTL after the last renewal, i.e. 3/4·TTL–TTL after the kill (renewals every TTL/4)"));
            var termRegistry = Figure.Of(term.Registry);
            var termRaw = Figure.Of(term.Raw);
            report.Rows.Add(new Row("failure detection", "SIGTERM → down", "ms", $"p99 of {termRuns} runs", termRegistry, termRaw,
                "p99 ≤ 50 ms", termRegistry.P99 <= 50,
                "raw = the DELETE of the child's revoke at a raw watch (the child's shutdown path is in both)"));
            report.Details["failure.ttl-seconds"] = ttl;
            report.Details["failure.kill-runs"] = killRuns;
            report.Details["failure.term-runs"] = termRuns;
            report.Details["failure.sigterm-median-ms"] = termRegistry.Median;
        }
        finally
        {
            await system.Terminate();
            await raw.DeletePrefixAsync(prefix);
        }
    }

    private static void Add((List<double> Registry, List<double> Raw) series, (double Registry, double Raw) sample)
    {
        series.Registry.Add(sample.Registry);
        series.Raw.Add(sample.Raw);
    }

    private async Task<(double Registry, double Raw)> RunOnceAsync(DownRecorder recorder, RawWatch watch, string prefix, int port, bool sigkill)
    {
        var address = $"127.0.0.1:{port}";
        var key = prefix + address;
        using var child = ChildRegistration.Start(endpoint, Service, address, ttl);
        await child.WaitForEventAsync("registered", Patience);
        await watch.WaitAsync(key, delete: false, Patience);
        await recorder.WaitUpAsync(address, Patience);

        // Land the signal anywhere in the renewal cycle (renewals go every TTL/4).
        await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * ttl * 1000 / 4));
        var start = Stopwatch.GetTimestamp();
        if (sigkill) child.Kill();
        else if (SendSignal(child.Pid, SigTerm) != 0) throw new InvalidOperationException($"kill -TERM {child.Pid} failed");

        var downAt = await recorder.WaitDownAsync(address, TimeSpan.FromSeconds(ttl) + Patience);
        var rawAt = await watch.WaitAsync(key, delete: true, Patience);
        await child.WaitForExitAsync(Patience);
        watch.Forget(key);
        return (Stopwatch.GetElapsedTime(start, downAt).TotalMilliseconds, Stopwatch.GetElapsedTime(start, rawAt).TotalMilliseconds);
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    /// <summary>When the watcher reported each instance up and down, by id.</summary>
    private sealed class DownRecorder
    {
        private readonly ConcurrentDictionary<(string Id, bool Down), long> _at = new();

        public void Record(string id, bool down) => _at[(id, down)] = Stopwatch.GetTimestamp();

        public Task WaitUpAsync(string id, TimeSpan timeout) => WaitAsync(id, false, timeout);

        public Task<long> WaitDownAsync(string id, TimeSpan timeout) => WaitAsync(id, true, timeout);

        private async Task<long> WaitAsync(string id, bool down, TimeSpan timeout)
        {
            var deadline = DateTime.UtcNow + timeout;
            while (true)
            {
                if (_at.TryRemove((id, down), out var at)) return at;
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"the watcher reported no {(down ? "down" : "up")} of {id} within {timeout}");
                await Task.Delay(1);
            }
        }
    }

    private sealed class RecorderActor : ReceiveActor
    {
        public RecorderActor(DownRecorder recorder)
        {
            Receive<MembershipSnapshot>(s =>
            {
                foreach (var instance in s.Instances) recorder.Record(instance.Id, down: false);
            });
            Receive<InstanceUp>(up => recorder.Record(up.Instance.Id, down: false));
            Receive<InstanceDown>(down => recorder.Record(down.Instance.Id, down: true));
            ReceiveAny(_ => { });
        }
    }
}

/// <summary>A <c>registry register</c> child process (the registry.dll built next to the runner).</summary>
internal sealed class ChildRegistration : IDisposable
{
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();

    private ChildRegistration(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) _lines.Writer.TryComplete();
            else _lines.Writer.TryWrite(e.Data);
        };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Pid => _process.Id;

    public static ChildRegistration Start(string endpoint, string service, string address, long ttl)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "registry.dll"), "register", "--service", service, "--address", address, "--ttl", $"{ttl}", "--etcd", endpoint })
            start.ArgumentList.Add(arg);
        return new ChildRegistration(Process.Start(start) ?? throw new InvalidOperationException("could not start registry.dll"));
    }

    public async Task WaitForEventAsync(string name, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await foreach (var line in _lines.Reader.ReadAllAsync(cts.Token))
        {
            using var json = JsonDocument.Parse(line);
            if (json.RootElement.TryGetProperty("event", out var e) && e.GetString() == name) return;
        }
        throw new InvalidOperationException($"registry register exited (code {_process.ExitCode}) before '{name}'");
    }

    public void Kill() => _process.Kill();

    public async Task WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.Dispose();
    }
}
