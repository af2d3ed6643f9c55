using Grpc.Core;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Discovery;

/// <summary>
/// The watcher against real etcd through a faulty link: random puts, deletes, lease expiries, compactions, junk
/// values and connection cuts, after which its view must equal etcd's, reached without a missed or duplicated event.
/// A failure prints the seed; set REGISTRY_CHURN_SEED to replay it.
/// </summary>
public sealed class WatcherChurnTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private const string Prefix = "/services/user/";

    [Fact]
    public async Task After_random_churn_and_cuts_the_watchers_view_equals_etcds()
    {
        var seed = int.TryParse(Environment.GetEnvironmentVariable("REGISTRY_CHURN_SEED"), out var fixedSeed) ? fixedSeed : Random.Shared.Next();
        try
        {
            await ChurnAsync(new Random(seed));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"churn failed with REGISTRY_CHURN_SEED={seed}: {e.Message}\n{e}");
        }
    }

    [Fact]
    public async Task A_view_stale_through_a_cut_that_compaction_outlived_is_live_again_only_once_it_holds_etcds_membership()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var watcher = new DiscoveryUnderTest([proxy.Endpoint], "compacted");
        using var client = etcd.CreateClient();
        const string prefix = "/services/compacted/";
        await PutAsync(client, "10.0.0.1:80");
        await PutAsync(client, "10.0.0.2:80");
        await watcher.ConvergeAsync(client, prefix, TimeSpan.FromSeconds(10));

        proxy.Hold();
        await watcher.WaitForStaleAsync(TimeSpan.FromSeconds(15));
        await client.DeleteAsync(prefix + "10.0.0.1:80");
        await PutAsync(client, "10.0.0.3:80");
        await client.CompactAsync();
        proxy.Heal();

        // The watcher lists again after the cut (the history it missed is compacted) and is live once its new watch is.
        await watcher.WaitUntilAsync(v => !v.Stale, "live again", TimeSpan.FromSeconds(15));
        Assert.Equal(await DiscoveryUnderTest.EtcdViewAsync(client, prefix), watcher.View.ToSorted());
    }

    private static Task PutAsync(EtcdTestClient client, string address) => client.PutAsync("/services/compacted/" + address,
        System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(ServiceInstance.Create("compacted", address) with { RegisteredAt = DateTimeOffset.UnixEpoch })));

    private async Task ChurnAsync(Random random)
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var watcher = new DiscoveryUnderTest([proxy.Endpoint]);
        using var client = etcd.CreateClient();
        var leases = new List<long>();
        var compacted = 0L;

        for (var step = 0; step < 120; step++)
        {
            var id = $"10.0.0.{random.Next(1, 16)}:80";
            var key = Prefix + id;
            switch (random.Next(100))
            {
                case < 40:
                    var instance = ServiceInstance.Create("user", id) with { Weight = random.Next(1, 4), RegisteredAt = DateTimeOffset.UnixEpoch };
                    await client.PutAsync(key, System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(instance)));
                    break;
                case < 55:
                    await client.DeleteAsync(key);
                    break;
                case < 65:
                    var lease = await client.GrantLeaseAsync(1);
                    leases.Add(lease);
                    var leased = ServiceInstance.Create("user", id) with { RegisteredAt = DateTimeOffset.UnixEpoch };
                    await client.PutAsync(key, System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(leased)), lease);
                    break;
                case < 70 when leases.Count > 0:
                    var revoked = leases[random.Next(leases.Count)];
                    leases.Remove(revoked);
                    try
                    {
                        await client.RevokeLeaseAsync(revoked);
                    }
                    catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
                    {
                        // Its 1 s TTL ran out first: etcd expired it, which the watcher must report alike.
                    }
                    break;
                case < 75:
                    await client.PutAsync(key, random.Next(2) == 0 ? "junk" : """{"service":"user"}""");
                    break;
                case < 80 when await client.RevisionAsync() > compacted:
                    compacted = await client.CompactAsync();
                    break;
                case < 88 when proxy.Mode == ProxyMode.Pass:
                    proxy.SetMode(random.Next(2) == 0 ? ProxyMode.Hold : ProxyMode.Reset);
                    break;
                case < 95 when proxy.Mode != ProxyMode.Pass:
                    proxy.Heal();
                    break;
                default:
                    await Task.Delay(random.Next(50, 300));
                    break;
            }
            watcher.ApplyReceived();
        }

        // The case that must always happen at least once: changes and a compaction while the watcher is cut off, which
        // only a re-list can catch up with. It starts from a live view, so the stale flag awaited is this cut's; and the
        // watcher must have noticed the cut (a held stream goes silent, a reset one breaks) before the changes, or a
        // heal a few milliseconds into a hold would let the held stream resume and nothing would be listed again.
        proxy.Heal();
        await watcher.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(15));
        proxy.SetMode(random.Next(2) == 0 ? ProxyMode.Hold : ProxyMode.Reset);
        await watcher.WaitForStaleAsync(TimeSpan.FromSeconds(15));
        await client.PutAsync(Prefix + "10.0.0.99:80", System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(
            ServiceInstance.Create("user", "10.0.0.99:80") with { RegisteredAt = DateTimeOffset.UnixEpoch })));
        await client.DeleteAsync(Prefix + $"10.0.0.{random.Next(1, 16)}:80");
        await client.CompactAsync();
        proxy.Heal();

        await watcher.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(15));

        // Later changes keep flowing.
        var late = ServiceInstance.Create("user", "10.9.9.9:80") with { RegisteredAt = DateTimeOffset.UnixEpoch };
        await client.PutAsync(Prefix + late.Id, System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(late)));
        await watcher.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(5));
        // Re-lists after compaction and cuts sent the difference, never a new snapshot.
        Assert.Equal(1, watcher.View.Snapshots);
    }
}
