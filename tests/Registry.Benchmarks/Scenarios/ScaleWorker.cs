using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Akka.Actor;
using Etcdserverpb;
using Grpc.Core;

namespace Registry.Benchmarks.Scenarios;

/// <summary>What one scale worker process measured over its hold window.</summary>
public sealed record ScaleMeasurement(
    string Mode,
    int Instances,
    double RegisterSeconds,
    double HoldSeconds,
    double CpuPercentOfOneCore,
    double ManagedPeakMb,
    double ManagedAfterGcMb,
    double WorkingSetMb,
    int LeaseLost,
    int RenewFailed,
    int Reregistered,
    int KeysPresent,
    int KeysOnOtherLease,
    double EtcdRequestsPerSecond,
    Dictionary<string, double> EtcdRequestsPerSecondByMethod,
    double EtcdCpuPercentOfOneCore,
    double ThreadPoolItemsPerSecond,
    double LockContentionsPerSecond,
    double ContextSwitchesPerSecond,
    double InvoluntarySwitchesPerSecond);

/// <summary>
/// One side of the scale scenario, in a process of its own so its CPU time and heap are its alone:
/// <c>registry</c> registers the instances through <see cref="ServiceRegistry"/>; <c>raw</c> grants and puts them and
/// keeps every lease alive on the Go client's schedule (one keep-alive stream, each lease renewed every TTL/3) with
/// grpc-dotnet's plain writes (each request flushed on its own, where grpc-go would batch them), and no key checks.
/// Registration is not measured; the hold window is. Prints one JSON line.
/// </summary>
public static class ScaleWorker
{
    public const string Service = "scale";
    public const string ResultMarker = "SCALE-RESULT ";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private const int Window = 500;

    public static async Task<int> RunAsync(string mode, string endpoint, int instances, TimeSpan hold, long ttl, string hocon = "")
    {
        var all = Enumerable.Range(0, instances)
            .Select(i => ServiceInstance.Create(Service, $"10.2.{i / 250}.{i % 250 + 1}:{8000 + i % 1000}"))
            .ToArray();
        var measurement = mode switch
        {
            "registry" => await RegistryAsync(endpoint, all, hold, ttl, hocon),
            "raw" => await RawAsync(endpoint, all, hold, ttl),
            _ => throw new ArgumentException($"--mode '{mode}': expected registry or raw"),
        };
        // Marked: the actor system may still log to stdout after it.
        Console.WriteLine(ResultMarker + JsonSerializer.Serialize(measurement));
        return 0;
    }

    private static async Task<ScaleMeasurement> RegistryAsync(string endpoint, ServiceInstance[] all, TimeSpan hold, long ttl, string hocon)
    {
        var system = RegistrySystem.Create("scale", endpoint, ttl, hocon);
        var counts = new EventCounts();
        system.EventStream.Subscribe(system.ActorOf(Props.Create(() => new EventCounter(counts))), typeof(RegistrationEvent));
        var supervisor = ServiceRegistry.Get(system).Supervisor;

        var started = Stopwatch.GetTimestamp();
        var leases = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var window in all.Chunk(Window))
        {
            var replies = await Task.WhenAll(window.Select(i => supervisor.Ask<object>(new Register(i), Patience)));
            foreach (var reply in replies)
            {
                if (reply is not Registered registered) throw new InvalidOperationException($"registration failed: {reply}");
                leases[registered.Key] = registered.LeaseId;
            }
        }
        var registerSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

        var result = await HoldAsync("registry", endpoint, all.Length, registerSeconds, hold, leases, () => counts);
        // Not measured: deregistration of what is left happens in the parent (revoking the leases).
        _ = system.Terminate();
        return result;
    }

    private static async Task<ScaleMeasurement> RawAsync(string endpoint, ServiceInstance[] all, TimeSpan hold, long ttl)
    {
        using var raw = new RawEtcd(endpoint);
        var started = Stopwatch.GetTimestamp();
        var leases = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var window in all.Chunk(Window))
        {
            var granted = await Task.WhenAll(window.Select(async i =>
            {
                var key = InstanceCodec.Key(InstanceCodec.DefaultPrefix, i.Service, i.Id);
                var lease = await raw.GrantAsync(ttl);
                await raw.PutAsync(key, InstanceCodec.Encode(i), lease);
                return (key, lease);
            }));
            foreach (var (key, lease) in granted) leases[key] = lease;
        }
        var registerSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;

        var counts = new EventCounts();
        using var stop = new CancellationTokenSource();
        var keeper = KeepAliveAsync(raw, leases.Values.ToArray(), TimeSpan.FromSeconds(ttl) / 3, counts, stop.Token);
        var result = await HoldAsync("raw", endpoint, all.Length, registerSeconds, hold, leases, () => counts);
        await stop.CancelAsync();
        await keeper;
        return result;
    }

    /// <summary>
    /// The Go client's schedule: one LeaseKeepAlive stream; every lease renewed once per interval, spread evenly over it
    /// (checked every 50 ms); every response read. Each request is a WriteAsync of its own, which grpc-dotnet flushes.
    /// </summary>
    private static async Task KeepAliveAsync(RawEtcd raw, long[] leases, TimeSpan interval, EventCounts counts, CancellationToken ct)
    {
        using var call = raw.Connection.LeaseClient.LeaseKeepAlive(cancellationToken: ct);
        var reader = Task.Run(async () =>
        {
            try
            {
                while (await call.ResponseStream.MoveNext(ct))
                {
                    if (call.ResponseStream.Current.TTL <= 0) Interlocked.Increment(ref counts.LeaseLost);
                }
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
            }
        });
        var next = 0;
        var begun = Stopwatch.GetTimestamp();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(50));
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                // How many renewals are due by now, at leases.Length per interval.
                var due = (long)(Stopwatch.GetElapsedTime(begun) / interval * leases.Length);
                for (; next < due; next++)
                    await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leases[next % leases.Length] }, ct);
            }
        }
        catch (OperationCanceledException)
        {
        }
        catch (RpcException) when (ct.IsCancellationRequested)
        {
        }
        await reader;
    }

    private static async Task<ScaleMeasurement> HoldAsync(string mode, string endpoint, int instances, double registerSeconds, TimeSpan hold,
        Dictionary<string, long> leases, Func<EventCounts> counts)
    {
        // Let the registration's garbage and in-flight work settle, so the window sees steady state only.
        await Task.Delay(TimeSpan.FromSeconds(2));
        GC.Collect();
        using var process = Process.GetCurrentProcess();
        var etcdBefore = await EtcdMetrics.ReadAsync(endpoint);
        var cpuBefore = process.TotalProcessorTime;
        var itemsBefore = ThreadPool.CompletedWorkItemCount;
        var contentionsBefore = Monitor.LockContentionCount;
        var switchesBefore = ContextSwitches();
        var begun = Stopwatch.GetTimestamp();
        var peak = 0L;
        while (Stopwatch.GetElapsedTime(begun) < hold)
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
        }
        process.Refresh();
        var cpu = process.TotalProcessorTime - cpuBefore;
        var wall = Stopwatch.GetElapsedTime(begun);
        var items = ThreadPool.CompletedWorkItemCount - itemsBefore;
        var contentions = Monitor.LockContentionCount - contentionsBefore;
        var switches = ContextSwitches();
        var etcdAfter = await EtcdMetrics.ReadAsync(endpoint);
        var workingSet = process.WorkingSet64;
        var afterGc = GC.GetTotalMemory(forceFullCollection: true);

        using var raw = new RawEtcd(endpoint);
        var present = await raw.ListAsync(InstanceCodec.ServicePrefix(InstanceCodec.DefaultPrefix, Service));
        var onOtherLease = leases.Count(kv => present.TryGetValue(kv.Key, out var lease) && lease != kv.Value);
        var perMethod = etcdAfter.Since(etcdBefore).ToDictionary(kv => kv.Key, kv => kv.Value / wall.TotalSeconds);
        var c = counts();
        return new ScaleMeasurement(
            mode, instances, registerSeconds, wall.TotalSeconds,
            100 * cpu / wall,
            peak / 1048576.0, afterGc / 1048576.0, workingSet / 1048576.0,
            c.LeaseLost, c.RenewFailed, c.Reregistered,
            leases.Keys.Count(present.ContainsKey), onOtherLease,
            perMethod.Values.Sum(), perMethod,
            100 * (etcdAfter.CpuSeconds - etcdBefore.CpuSeconds) / wall.TotalSeconds,
            items / wall.TotalSeconds, contentions / wall.TotalSeconds,
            (switches.Voluntary + switches.Involuntary - switchesBefore.Voluntary - switchesBefore.Involuntary) / wall.TotalSeconds,
            (switches.Involuntary - switchesBefore.Involuntary) / wall.TotalSeconds);
    }

    /// <summary>
    /// The context switches of this process so far, ended threads included (getrusage; NaN off Linux). A thread that
    /// yields its core while another thread is waiting to run counts an involuntary one: the thread pool's idle spin does.
    /// </summary>
    private static (double Voluntary, double Involuntary) ContextSwitches()
    {
        if (!OperatingSystem.IsLinux()) return (double.NaN, double.NaN);
        // struct rusage on 64-bit Linux: two timevals, then 14 longs ending with ru_nvcsw and ru_nivcsw.
        var usage = new long[18];
        if (GetResourceUsage(0 /* RUSAGE_SELF */, usage) != 0) return (double.NaN, double.NaN);
        return (usage[16], usage[17]);
    }

    [DllImport("libc", EntryPoint = "getrusage", SetLastError = true)]
    private static extern int GetResourceUsage(int who, [Out] long[] usage);

    private sealed class EventCounts
    {
        public int LeaseLost;
        public int RenewFailed;
        public int Reregistered;
    }

    private sealed class EventCounter : ReceiveActor
    {
        public EventCounter(EventCounts counts) => Receive<RegistrationEvent>(e =>
        {
            switch (e.Kind)
            {
                case RegistrationEventKind.LeaseLost: counts.LeaseLost++; break;
                case RegistrationEventKind.RenewFailed: counts.RenewFailed++; break;
                case RegistrationEventKind.Reregistered: counts.Reregistered++; break;
            }
        });
    }
}
