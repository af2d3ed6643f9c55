using System.Diagnostics;
using Akka.Actor;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// Propagation: the time from an etcd write (the PUT or DELETE of an instance key, timed from just before the client
/// sends it) until the BalancerActor's snapshot (<see cref="ServiceBalancer.Members"/>) holds it, beside the time the
/// same write takes to reach a raw dotnet-etcd Watch stream in the same process. One write feeds both, so both see the
/// same etcd, the same load and the same moment. The write goes over a connection of its own, as the registry's watch
/// has one: sharing the raw watch's connection delays the raw side by the write's own response.
/// </summary>
public sealed class PropagationScenario(string endpoint, int samples)
{
    private const string Service = "propagation";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    public async Task RunAsync(Report report)
    {
        using var raw = new RawEtcd(endpoint);
        using var writer = new RawEtcd(endpoint);
        var prefix = InstanceCodec.ServicePrefix(InstanceCodec.DefaultPrefix, Service);
        await raw.DeletePrefixAsync(prefix);
        var system = RegistrySystem.Create("propagation", endpoint);
        try
        {
            var balancer = await ServiceRegistry.Get(system).BalancerAsync(Service, "round-robin");
            await using var watch = await raw.WatchAsync(prefix, CancellationToken.None);

            // A few steady members, as a real service has; one more comes and goes per sample.
            for (var i = 0; i < 3; i++) await raw.PutAsync(Key(prefix, $"steady-{i}"), Value($"steady-{i}"));
            await WaitUntilAsync(() => balancer.Members.Length == 3);

            var warmup = Math.Max(20, samples / 10);
            var up = new Series();
            var down = new Series();
            for (var i = 0; i < warmup + samples; i++)
            {
                var id = $"moving-{i}";
                var key = Key(prefix, id);
                var put = await MeasureAsync(() => writer.PutAsync(key, Value(id)), watch, key, delete: false, () => Holds(balancer, id));
                var delete = await MeasureAsync(() => writer.DeleteAsync(key), watch, key, delete: true, () => !Holds(balancer, id));
                watch.Forget(key);
                if (i < warmup) continue;
                up.Add(put);
                down.Add(delete);
                // Spread the samples over time instead of measuring one burst.
                await Task.Delay(Random.Shared.Next(2, 8));
            }

            Add(report, "PUT", up);
            Add(report, "DELETE", down);
            report.Details["propagation.samples"] = samples;
            report.Details["propagation.warmup-samples"] = warmup;
        }
        finally
        {
            await system.Terminate();
            await raw.DeletePrefixAsync(prefix);
        }
    }

    private static void Add(Report report, string kind, Series series)
    {
        var registry = Figure.Of(series.Registry);
        var raw = Figure.Of(series.Raw);
        var arrival = Figure.Of(series.RawArrival);
        report.Details[$"propagation.{kind}.raw-arrival-p50-ms"] = Math.Round(arrival.Median, 3);
        report.Details[$"propagation.{kind}.raw-arrival-p99-ms"] = Math.Round(arrival.P99, 3);
        report.Rows.Add(new Row("propagation", $"{kind} → balancer snapshot", "ms", "p50", registry, raw, "≤ 1.1× raw",
            registry.Median <= 1.1 * raw.Median));
        report.Rows.Add(new Row("propagation", $"{kind} → balancer snapshot", "ms", "p99", registry, raw, "≤ 1.3× raw",
            registry.P99 <= 1.3 * raw.P99));
    }

    /// <summary>
    /// Sends the write and polls both sides (spinning, yielding the core now and then, never sleeping) until the
    /// balancer's snapshot and the raw watch both show it; each side is timestamped at the first poll that sees it, so
    /// the delay of polling (tens of µs when the poller has yielded its core) falls on both alike. Returns both latencies
    /// and the time the raw stream itself received the event, in milliseconds.
    /// </summary>
    private static async Task<(double Registry, double Raw, double RawArrival)> MeasureAsync(
        Func<Task> write, RawWatch watch, string key, bool delete, Func<bool> done)
    {
        var start = Stopwatch.GetTimestamp();
        var sent = Task.Run(write);
        var spin = new SpinWait();
        var deadline = start + (long)(Patience.TotalSeconds * Stopwatch.Frequency);
        long registryAt = 0, rawAt = 0;
        while (registryAt == 0 || rawAt == 0)
        {
            var registrySees = registryAt == 0 && done();
            var rawSees = rawAt == 0 && watch.SeenAt(key, delete) is not null;
            var now = Stopwatch.GetTimestamp();
            if (registrySees) registryAt = now;
            if (rawSees) rawAt = now;
            if (now > deadline) throw new TimeoutException($"{(registryAt == 0 ? "the balancer" : "the raw watch")} did not see the {(delete ? "DELETE" : "PUT")} of {key}");
            spin.SpinOnce(sleep1Threshold: -1);
        }
        await sent;
        var arrival = watch.SeenAt(key, delete)!.Value;
        return (Ms(start, registryAt), Ms(start, rawAt), Ms(start, arrival));
    }

    private static double Ms(long from, long to) => Stopwatch.GetElapsedTime(from, to).TotalMilliseconds;

    private static bool Holds(ServiceBalancer balancer, string id)
    {
        foreach (var member in balancer.Members)
        {
            if (member.Id == id) return true;
        }
        return false;
    }

    private static string Key(string prefix, string id) => prefix + id;

    /// <summary>The samples of one kind of write.</summary>
    private sealed class Series
    {
        public List<double> Registry { get; } = [];
        public List<double> Raw { get; } = [];
        public List<double> RawArrival { get; } = [];

        public void Add((double Registry, double Raw, double RawArrival) sample)
        {
            Registry.Add(sample.Registry);
            Raw.Add(sample.Raw);
            RawArrival.Add(sample.RawArrival);
        }
    }

    private static byte[] Value(string id) => InstanceCodec.Encode(ServiceInstance.Create(Service, "127.0.0.1:9000", id));

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("the balancer did not get its first members");
            await Task.Delay(10);
        }
    }
}
