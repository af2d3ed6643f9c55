using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>The shared keep-alive stream against a real etcd: many leases at once, a lease etcd lost, a stuck stream.</summary>
public sealed class KeepAliveStreamTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static RegistrySettings Settings(string endpoint) => RegistrySettings.From(ConfigurationFactory.ParseString($$"""
        registry.etcd {
          endpoints = ["{{endpoint}}"]
          call-timeout = 1s
        }
        """));

    [Fact]
    public async Task Thousands_of_renewals_asked_at_once_are_all_answered_on_one_stream()
    {
        await using var store = new EtcdStore(Settings(etcd.Endpoint));
        // Granted by a client with the fixture's patience: 200 raft writes at once can outlast the 1 s call timeout
        // under load, and the test is about the renewals.
        using var client = etcd.CreateClient();
        var leases = await Task.WhenAll(Enumerable.Range(0, 200).Select(_ => client.GrantLeaseAsync(30)));

        // Ten renewals of each lease in flight together: far more than one call timeout's worth of one-by-one writes
        // on a loaded machine, so a stream broken by queueing would fail some of them.
        var ttls = await Task.WhenAll(Enumerable.Range(0, 10).SelectMany(_ => leases).Select(l => store.KeepAliveAsync(l, CancellationToken.None)));

        Assert.All(ttls, ttl => Assert.InRange(ttl, 1, 30));
    }

    [Fact]
    public async Task A_lease_etcd_no_longer_has_renews_to_ttl_0()
    {
        await using var store = new EtcdStore(Settings(etcd.Endpoint));
        var lease = await store.GrantLeaseAsync(30, CancellationToken.None);
        await store.RevokeLeaseAsync(lease.LeaseId, CancellationToken.None);

        Assert.Equal(0, await store.KeepAliveAsync(lease.LeaseId, CancellationToken.None));
    }

    [Fact]
    public async Task A_stuck_stream_fails_the_renewal_within_the_call_timeout_and_is_replaced_after_the_heal()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(Settings(proxy.Endpoint));
        var lease = await store.GrantLeaseAsync(30, CancellationToken.None);
        Assert.True(await store.KeepAliveAsync(lease.LeaseId, CancellationToken.None) > 0);

        proxy.Hold();
        // Failed by the stream's watchdog after the call timeout (1 s), as the renewal itself or the stuck stream.
        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => store.KeepAliveAsync(lease.LeaseId, CancellationToken.None));
        Assert.Contains(" 1000 ms", timedOut.Message);

        proxy.Heal();
        // When the renewal timed out before its stream counted as stuck, the watchdog may still break that stream
        // before the held answer gets through, failing one more renewal; the next one goes out on a new stream.
        long ttl;
        try
        {
            ttl = await store.KeepAliveAsync(lease.LeaseId, CancellationToken.None);
        }
        catch (TimeoutException)
        {
            ttl = await store.KeepAliveAsync(lease.LeaseId, CancellationToken.None);
        }
        Assert.True(ttl > 0);
    }

    [Fact]
    public async Task A_cancelled_renewal_ends_at_once_without_disturbing_the_others()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(Settings(proxy.Endpoint));
        var lease = await store.GrantLeaseAsync(30, CancellationToken.None);
        Assert.True(await store.KeepAliveAsync(lease.LeaseId, CancellationToken.None) > 0);

        proxy.Hold();
        using var cancel = new CancellationTokenSource();
        var cancelled = store.KeepAliveAsync(lease.LeaseId, cancel.Token);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        proxy.Heal();
        Assert.True(await store.KeepAliveAsync(lease.LeaseId, CancellationToken.None) > 0);
    }
}
