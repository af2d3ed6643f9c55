using System.Diagnostics;
using Akka.Actor;
using Registry.Etcd;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// Registration burst: <c>count</c> instances registered at once from one process — every <see cref="Register"/>
/// sent together, the clock stopped at the last <see cref="Registered"/> — beside the raw recipe asked for the same way:
/// <c>count</c> concurrent grant-then-put sequences, one request each. The registry batches what is asked together
/// (at most 64 requests in flight, takeovers as transactions of up to 128 puts), so the ratio is of the two clients
/// as a caller uses them, batching included, not of the cost of one request. Runs alternate which goes first; each run
/// uses fresh keys and is cleaned up (not timed) before the next.
/// </summary>
public sealed class RegistrationBurstScenario(string endpoint, int count, int runs)
{
    private const long Ttl = 10;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public async Task RunAsync(Report report)
    {
        using var raw = new RawEtcd(endpoint);
        var system = RegistrySystem.Create("burst", endpoint, Ttl);
        try
        {
            var supervisor = ServiceRegistry.Get(system).Supervisor;
            // Warm-up of both paths (JIT, connections), not measured.
            await RegistryRunAsync(supervisor, raw, "burst-warmup-registry", count / 10);
            await RawRunAsync(raw, "burst-warmup-raw", count / 10);

            await using var store = new EtcdStore(ServiceRegistry.Get(system).Settings);
            await StoreRunAsync(store, raw, "burst-warmup-store", count / 10);

            var registryTimes = new List<double>();
            var rawTimes = new List<double>();
            var storeTimes = new List<double>();
            for (var run = 0; run < runs; run++)
            {
                // Rotate the order, so no side always runs right after another's cleanup.
                var order = new Func<Task>[]
                {
                    async () => registryTimes.Add(await RegistryRunAsync(supervisor, raw, $"burst-registry-{run}", count)),
                    async () => rawTimes.Add(await RawRunAsync(raw, $"burst-raw-{run}", count)),
                    async () => storeTimes.Add(await StoreRunAsync(store, raw, $"burst-store-{run}", count)),
                };
                for (var i = 0; i < order.Length; i++) await order[(run + i) % order.Length]();
            }

            var registry = Figure.Of(registryTimes);
            var baseline = Figure.Of(rawTimes);
            report.Rows.Add(new Row("registration burst", $"{count:N0} instances, all at once", "ms", $"median of {runs} runs", registry, baseline,
                "≤ 1.3× raw", registry.Median <= 1.3 * baseline.Median,
                "raw = concurrent LeaseGrant + Put per instance; registry = Register → Registered (grant + takeover write, actors, timers)"));
            var storeOnly = Figure.Of(storeTimes);
            report.Rows.Add(new Row("registration burst", $"{count:N0} instances, the registry's etcd calls alone", "ms", $"median of {runs} runs", storeOnly, baseline,
                "–", null,
                "diagnostic: the registry's own store (its channel, grant + takeover write: puts asked together go out as one Txn) driven like the raw side, without actors; " +
                "the difference to the row above is the actor path (Ask, one supervisor handling every Register in turn, a LeaseActor started per instance)"));
            report.Details["burst.instances"] = count;
            report.Details["burst.runs"] = runs;
            report.Details["burst.registry-instances-per-second"] = count / (registry.Median / 1000);
            report.Details["burst.raw-instances-per-second"] = count / (baseline.Median / 1000);
        }
        finally
        {
            await system.Terminate();
        }
    }

    private static async Task<double> RegistryRunAsync(IActorRef supervisor, RawEtcd raw, string service, int count)
    {
        var instances = Instances(service, count);
        var start = Stopwatch.GetTimestamp();
        var replies = await Task.WhenAll(instances.Select(i => supervisor.Ask<object>(new Register(i, Ttl), Patience)));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        var failed = replies.Where(r => r is not Registered).ToList();
        if (failed.Count > 0) throw new InvalidOperationException($"{failed.Count} registrations failed, e.g. {failed[0]}");
        await Task.WhenAll(instances.Select(i => supervisor.Ask<Deregistered>(new Deregister(i.Service, i.Id), Patience)));
        await raw.DeletePrefixAsync(InstanceCodec.ServicePrefix(InstanceCodec.DefaultPrefix, service));
        return elapsed;
    }

    private static async Task<double> StoreRunAsync(EtcdStore store, RawEtcd raw, string service, int count)
    {
        var instances = Instances(service, count);
        var start = Stopwatch.GetTimestamp();
        var leases = await Task.WhenAll(instances.Select(async i =>
        {
            var lease = await store.GrantLeaseAsync(Ttl, CancellationToken.None);
            var key = InstanceCodec.Key(InstanceCodec.DefaultPrefix, i.Service, i.Id);
            await store.PutAsync(key, InstanceCodec.Encode(i), lease.LeaseId, PutCondition.Always, CancellationToken.None);
            return lease.LeaseId;
        }));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        await Task.WhenAll(leases.Select(raw.RevokeAsync));
        return elapsed;
    }

    private static async Task<double> RawRunAsync(RawEtcd raw, string service, int count)
    {
        var instances = Instances(service, count);
        var start = Stopwatch.GetTimestamp();
        var leases = await Task.WhenAll(instances.Select(async i =>
        {
            var lease = await raw.GrantAsync(Ttl);
            await raw.PutAsync(InstanceCodec.Key(InstanceCodec.DefaultPrefix, i.Service, i.Id), InstanceCodec.Encode(i), lease);
            return lease;
        }));
        var elapsed = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        await Task.WhenAll(leases.Select(raw.RevokeAsync));
        return elapsed;
    }

    private static ServiceInstance[] Instances(string service, int count) =>
        [.. Enumerable.Range(0, count).Select(i => ServiceInstance.Create(service, $"10.1.{i / 250}.{i % 250 + 1}:8080"))];
}
