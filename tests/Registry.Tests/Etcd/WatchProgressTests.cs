using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>
/// etcd 3.4 before 3.4.25 answers a progress request at once, whether the watch has caught up or not. Requests queued
/// on a held connection must not make a watch resumed below the compaction look live before etcd cancels it.
/// </summary>
public sealed class WatchProgressTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task A_watch_resumed_below_the_compaction_over_a_held_connection_is_cancelled_right_after_its_creation()
    {
        var prefix = $"/progress-{Guid.NewGuid():N}/";
        using var client = etcd.CreateClient();
        var from = await client.RevisionAsync() + 1;
        await client.PutAsync(prefix + "a", "1");
        await client.PutAsync(prefix + "a", "2");
        await client.CompactAsync();
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(RegistrySettings.From(ConfigurationFactory.ParseString(
            $"registry {{ etcd.endpoints = [\"{proxy.Endpoint}\"], discovery.progress-interval = 500ms }}")));
        // Connected first: the watch's requests are then written into the held connection, as after a blip.
        await store.ListAsync(prefix, CancellationToken.None);
        proxy.Hold();

        var batches = new List<WatchBatch>();
        var watching = Task.Run(async () =>
        {
            await foreach (var batch in store.WatchAsync(prefix, from, CancellationToken.None)) batches.Add(batch);
        });
        // Fault duration: long enough for several progress intervals while the connection is held.
        await Task.Delay(TimeSpan.FromSeconds(2));
        proxy.Heal();

        await Assert.ThrowsAsync<RevisionCompactedException>(() => watching.WaitAsync(TimeSpan.FromSeconds(20)));
        // Only the creation came before the cancellation.
        Assert.Empty(Assert.Single(batches).Events);
    }
}
