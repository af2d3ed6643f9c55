using System.Diagnostics;
using Akka.Actor;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// Propagation: the time from an etcd write (the PUT or DELETE of an instance key, timed from just before the client
/// sends it) until the BalancerActor's snapshot (<see cref="ServiceBalancer.Members"/>) holds it, beside the time the
/// same write takes to reach a raw dotnet-etcd Watch stream in the same process. One write feeds both, so both see the
/// same etcd, the same load and the same moment. The write goes over a connection of its own, as the registry's watch
/// has one: sharing the raw watch's connection delays the raw side by the write's own response. Each side is stamped
/// where it happens (the balancer as it publishes the new members, the raw reader as the event arrives), not by the
/// loop that waits for both, which on 2 cores is often off-CPU and would stamp both at the later of the two.
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
                var put = await MeasureAsync(() => writer.PutAsync(key, Value(id)), balancer, watch, key, delete: false, () => Holds(balancer, id));
                var delete = await MeasureAsync(() => writer.DeleteAsync(key), balancer, watch, key, delete: true, () => !Holds(balancer, id));
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
        report.Rows.Add(new Row("propagation", $"{kind} → balancer snapshot", "ms", "p50", registry, raw, "≤ 1.1× raw",
            registry.Median <= 1.1 * raw.Median));
        report.Rows.Add(new Row("propagation", $"{kind} → balancer snapshot", "ms", "p99", registry, raw, "≤ 1.3× raw",
            registry.P99 <= 1.3 * raw.P99));
    }

    /// <summary>
    /// Sends the write, waits until the balancer's snapshot and the raw watch both show it, and returns, in
    /// milliseconds from just before the send, when each side got it. The wait polls every millisecond: the stamps do
    /// not depend on it, and it leaves the cores to etcd and the clients.
    /// </summary>
    private static async Task<(double Registry, double Raw)> MeasureAsync(
        Func<Task> write, ServiceBalancer balancer, RawWatch watch, string key, bool delete, Func<bool> done)
    {
        var start = Stopwatch.GetTimestamp();
        await write();
        var deadline = start + (long)(Patience.TotalSeconds * Stopwatch.Frequency);
        while (!done() || watch.SeenAt(key, delete) is null)
        {
            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"{(done() ? "the raw watch" : "the balancer")} did not see the {(delete ? "DELETE" : "PUT")} of {key}");
            await Task.Delay(1);
        }
        return (Ms(start, balancer.MembersPublishedAt), Ms(start, watch.SeenAt(key, delete)!.Value));
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

        public void Add((double Registry, double Raw) sample)
        {
            Registry.Add(sample.Registry);
            Raw.Add(sample.Raw);
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
