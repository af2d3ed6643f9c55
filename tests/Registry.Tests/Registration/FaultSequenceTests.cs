using Registry.Tests.Discovery;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Registration;

/// <summary>
/// Faults of the fault model one after another, as they come in production, on a 3-member cluster that a registry and
/// a watcher reach through proxies: each fault alone has its own test, this one looks for what one fault leaves for
/// the next. The sequence is drawn from a fixed seed, so a failure replays.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class FaultSequenceTests
{
    private const int Ttl = 6;
    private const string Prefix = "/services/user/";
    private static readonly TimeSpan Cut = TimeSpan.FromSeconds(2);

    [Theory]
    // Draws every kind of fault once at least.
    [InlineData(11)]
    public async Task A_sequence_of_faults_shorter_than_the_ttl_drops_no_registration_and_no_instance_from_a_view(int seed)
    {
        var random = new Random(seed);
        await using var cluster = await EtcdCluster.StartNewAsync(3);
        var proxies = cluster.Members.Select(m => new FaultProxy(m.ClientPort)).ToList();
        try
        {
            var endpoints = proxies.Select(p => p.Endpoint).ToList();
            await using var registry = new RegistryUnderTest(endpoints, Ttl);
            var registered = new List<Registered>();
            for (var n = 1; n <= 20; n++) registered.Add(await registry.RegisterAsync(ServiceInstance.Create("user", $"10.0.1.{n}:80")));
            await using var discovery = new DiscoveryUnderTest(endpoints);
            using var client = cluster.CreateClient();
            await discovery.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(10));
            await using var watch = await client.WatchPrefixAsync(Prefix);

            var faults = new List<string>();
            for (var round = 0; round < 8; round++)
            {
                faults.Add(await FaultAsync(random, cluster, proxies, registry));
                await cluster.WaitForLeaderAsync();
                // Faults back to back would add up to one cut longer than the TTL.
                await RenewedAsync(client, registered, $"seed {seed}: {string.Join(", ", faults)}");
            }
            var sequence = $"seed {seed}: {string.Join(", ", faults)}";
            // Observation window: a lease left unrenewed by any fault expires within it.
            await Task.Delay(TimeSpan.FromSeconds(Ttl + 1));
            await watch.CatchUpAsync();

            Assert.True(watch.Deletes.Count == 0, $"deleted [{string.Join(", ", watch.Deletes.Select(d => d.Key))}] after {sequence}");
            foreach (var registration in registered)
            {
                Assert.True((await client.GetAsync(registration.Key))?.LeaseId == registration.LeaseId, $"{registration.Key} is not on its lease after {sequence}");
            }
            var events = registry.Drain();
            Assert.True(!events.Any(e => e.Kind is RegistrationEventKind.LeaseLost or RegistrationEventKind.Reregistered or RegistrationEventKind.Conflict),
                $"[{string.Join(", ", events.Select(e => e.Kind).Distinct())}] after {sequence}");
            await discovery.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(15));
            Assert.True(discovery.View.Downs == 0, $"the watcher reported {discovery.View.Downs} down(s) after {sequence}");
            Assert.Equal(1, discovery.View.Snapshots);
        }
        finally
        {
            foreach (var proxy in proxies) await proxy.DisposeAsync();
        }
    }

    /// <summary>Waits until each lease has been renewed since the last fault healed: its TTL left is above what a cut leaves.</summary>
    private static async Task RenewedAsync(EtcdTestClient client, IEnumerable<Registered> registered, string faults)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(Ttl * 2));
        foreach (var registration in registered)
        {
            long left;
            while ((left = await client.LeaseTimeToLiveAsync(registration.LeaseId, timeout.Token)) <= Ttl - Cut.TotalSeconds)
            {
                Assert.True(left > 0, $"lease {registration.LeaseId:x} of {registration.Key} expired after {faults}");
                await Task.Delay(TimeSpan.FromMilliseconds(100), timeout.Token);
            }
        }
    }

    /// <summary>One fault, drawn at random, lasting until it has healed; returns what it was.</summary>
    private static async Task<string> FaultAsync(Random random, EtcdCluster cluster, IReadOnlyList<FaultProxy> proxies, RegistryUnderTest registry)
    {
        var leader = await cluster.WaitForLeaderAsync();
        var followers = cluster.Members.Where(m => m != leader).ToList();
        var follower = followers[random.Next(followers.Count)];
        var one = random.Next(proxies.Count);
        switch (random.Next(7))
        {
            case 0:
                await cluster.KillLeaderAsync();
                await cluster.WaitForLeaderAsync();
                await leader.RestartAsync();
                return $"leader {leader.Name} killed and restarted";
            case 1:
                await follower.StopAsync();
                await follower.RestartAsync();
                return $"follower {follower.Name} restarted";
            case 2:
                // Not the leader: etcd 3.4.23 revokes, once it resumes, leases it let lapse while frozen (etcd-io/etcd#15247).
                follower.Freeze();
                try
                {
                    await Task.Delay(Cut);
                }
                finally
                {
                    follower.Thaw();
                }
                return $"follower {follower.Name} frozen";
            case 3:
                await proxies[one].CutAsync(Cut, ProxyMode.Hold);
                return $"link to {cluster.Members[one].Name} held";
            case 4:
                await Task.WhenAll(proxies.Select(p => p.CutAsync(Cut, ProxyMode.Hold)));
                return "every link held";
            case 5:
                // The supervisor restarts them; each takes its key and lease back.
                registry.System.ActorSelection(registry.Supervisor.Path / "*").Tell(Akka.Actor.Kill.Instance);
                return "every lease actor crashed";
            default:
                await Task.WhenAll(proxies.Select(p => p.CutAsync(Cut, ProxyMode.Reset)));
                return "every link reset";
        }
    }
}
