namespace Registry.Tests.Infrastructure;

/// <summary>The inspection client and its direct watch, on one shared etcd; each test uses its own key prefix.</summary>
public sealed class EtcdTestClientTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task Lease_binds_keys_and_revoking_it_deletes_them()
    {
        using var client = etcd.CreateClient();
        var lease = await client.GrantLeaseAsync(30);
        await client.PutAsync("/lease/k", "v", lease);

        Assert.Equal(lease, (await client.GetAsync("/lease/k"))?.LeaseId);
        Assert.InRange(await client.LeaseTimeToLiveAsync(lease), 1, 30);

        await client.RevokeLeaseAsync(lease);

        Assert.Null(await client.GetAsync("/lease/k"));
        Assert.Equal(-1, await client.LeaseTimeToLiveAsync(lease));
    }

    [Fact]
    public async Task Direct_watch_records_puts_and_deletes_in_revision_order()
    {
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchPrefixAsync("/watch-order/");

        var first = await client.PutAsync("/watch-order/a", "1");
        await client.PutAsync("/watch-order/b", "2");
        await client.PutAsync("/elsewhere/x", "ignored");
        var deleted = await client.DeleteAsync("/watch-order/a");
        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete);

        Assert.True(deleted);
        Assert.Equal(
            [(WatchedEventKind.Put, "/watch-order/a"), (WatchedEventKind.Put, "/watch-order/b"), (WatchedEventKind.Delete, "/watch-order/a")],
            watch.Events.Select(e => (e.Kind, e.Key)));
        Assert.Equal(first, watch.Events[0].Revision);
    }

    [Fact]
    public async Task Catch_up_covers_every_write_made_before_it()
    {
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync("/catch-up/key");
        await client.PutAsync("/catch-up/key", "v1");
        await client.PutAsync("/catch-up/other", "moves the revision past the watched key");

        await watch.CatchUpAsync();

        Assert.Equal(await client.RevisionAsync(), watch.Revision);
        Assert.Equal(["v1"], watch.Events.Select(e => e.Value));
        Assert.Empty(watch.Deletes);
    }

    [Fact]
    public async Task Direct_watch_from_a_compacted_revision_reports_the_compaction()
    {
        using var client = etcd.CreateClient();
        var old = await client.PutAsync("/compacted/k", "1");
        await client.PutAsync("/compacted/k", "2");
        var compactedAt = await client.CompactAsync();

        await using var watch = await client.WatchPrefixAsync("/compacted/", fromRevision: old);

        var failure = await Assert.ThrowsAsync<InvalidOperationException>(() => watch.CatchUpAsync());
        Assert.Contains("compacted", failure.Message);
        Assert.Equal(compactedAt, watch.CompactedAt);
    }

    [Fact]
    public async Task Direct_watch_resumes_across_an_etcd_restart_without_losing_events()
    {
        await using var own = await EtcdNode.StartNewAsync();
        using var client = own.CreateClient();
        await using var watch = await client.WatchPrefixAsync("/restart/");
        await client.PutAsync("/restart/a", "1");

        own.Kill();
        await own.RestartAsync();
        await client.PutAsync("/restart/b", "2");
        await watch.WaitForAsync(e => e.Key == "/restart/b");

        Assert.Equal(["/restart/a", "/restart/b"], watch.Events.Select(e => e.Key));
        Assert.True(watch.Reconnects >= 1);
    }
}
