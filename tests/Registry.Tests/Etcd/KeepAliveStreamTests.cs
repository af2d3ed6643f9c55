using System.Diagnostics;
using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>The shared keep-alive stream against a real etcd: many leases at once, a lease etcd lost, a stuck stream.</summary>
public sealed class KeepAliveStreamTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    // A lease's renew interval at the default TTL (10 s): longer than the call timeout, which is the stream's patience.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(2.5);

    // The ttl only bounds the call timeout here: the leases are granted by the tests.
    private static RegistrySettings Settings(string endpoint, string callTimeout = "1s") => RegistrySettings.From(ConfigurationFactory.ParseString($$"""
        registry {
          ttl = 30s
          etcd {
            endpoints = ["{{endpoint}}"]
            call-timeout = {{callTimeout}}
          }
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
        var ttls = await Task.WhenAll(Enumerable.Range(0, 10).SelectMany(_ => leases).Select(l => store.KeepAliveAsync(l, Patience, CancellationToken.None)));

        Assert.All(ttls, ttl => Assert.InRange(ttl, 1, 30));
    }

    [Fact]
    public async Task A_lease_etcd_no_longer_has_renews_to_ttl_0()
    {
        await using var store = new EtcdStore(Settings(etcd.Endpoint));
        var lease = await store.GrantLeaseAsync(30, CancellationToken.None);
        await store.RevokeLeaseAsync(lease.LeaseId, CancellationToken.None);

        Assert.Equal(0, await store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None));
    }

    [Fact]
    public async Task A_stream_stuck_under_the_renewal_of_a_short_lease_is_broken_after_its_renew_interval_not_the_call_timeout()
    {
        // A member that hangs (SIGSTOP) keeps its connection: only the stream's silence tells. With TTL 3 s, renewals
        // every 750 ms and a call timeout of 2 s, a stream given the call timeout is found stuck when the lease expires.
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(Settings(proxy.Endpoint, callTimeout: "2s"));
        var lease = await store.GrantLeaseAsync(30, CancellationToken.None);
        Assert.True(await store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None) > 0);

        proxy.Hold();
        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => store.KeepAliveAsync(lease.LeaseId, TimeSpan.FromMilliseconds(750), CancellationToken.None));

        Assert.Equal("no keep-alive response within 750 ms: etcd unreachable, or the stream stuck", timedOut.Message);
    }

    [Fact]
    public async Task A_stream_found_stuck_on_a_member_that_hangs_is_opened_again_on_another_member()
    {
        // Three endpoints, three proxies to the one etcd: each proxy plays a member that can hang with its connection open.
        await using var first = new FaultProxy(etcd.ClientPort);
        await using var second = new FaultProxy(etcd.ClientPort);
        await using var third = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(Settings($"{first.Endpoint}\", \"{second.Endpoint}\", \"{third.Endpoint}"));
        using var client = etcd.CreateClient();
        var lease = await client.GrantLeaseAsync(30);
        var patience = TimeSpan.FromMilliseconds(300);

        // The stream ends up on the first member: the others hang until it is there (each attempt goes there with a
        // chance of at least a third).
        second.Hold();
        third.Hold();
        Assert.True(await RenewAsync(store, lease, patience, attempts: 30) > 0);
        second.Heal();
        third.Heal();

        // The first hangs. Round-robin alone would put the stream back on it after two other calls (which may go to it and
        // fail); each round makes them.
        first.Hold();
        var stuck = 0;
        long? ttl = null;
        while (ttl is null && stuck < 4)
        {
            try
            {
                ttl = await store.KeepAliveAsync(lease, patience, CancellationToken.None);
            }
            catch (TimeoutException)
            {
                stuck++;
                for (var call = 0; call < 2; call++) await ListIgnoringFailureAsync(store);
            }
        }

        Assert.Equal((1, true), (stuck, ttl > 0));
    }

    private static async Task ListIgnoringFailureAsync(EtcdStore store)
    {
        try
        {
            await store.ListAsync("/route/", CancellationToken.None);
        }
        catch (Grpc.Core.RpcException)
        {
        }
    }

    /// <summary>Renews until etcd answers, at most <paramref name="attempts"/> times.</summary>
    private static async Task<long> RenewAsync(EtcdStore store, long lease, TimeSpan patience, int attempts)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await store.KeepAliveAsync(lease, patience, CancellationToken.None);
            }
            catch (TimeoutException) when (attempt < attempts)
            {
            }
        }
    }

    [Fact]
    public async Task A_stuck_stream_fails_the_renewal_within_the_call_timeout_and_is_replaced_after_the_heal()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(Settings(proxy.Endpoint));
        var lease = await store.GrantLeaseAsync(30, CancellationToken.None);
        Assert.True(await store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None) > 0);

        proxy.Hold();
        // Failed by the stream's watchdog after the call timeout (1 s), as the renewal itself or the stuck stream.
        var timedOut = await Assert.ThrowsAsync<TimeoutException>(() => store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None));
        Assert.Contains(" 1000 ms", timedOut.Message);

        proxy.Heal();
        // When the renewal timed out before its stream counted as stuck, the watchdog may still break that stream
        // before the held answer gets through, failing a renewal or two on a loaded machine; later ones go out on a
        // new stream. The lease has 30 s: renewals that keep failing for 10 s after the heal fail the test.
        var healed = Stopwatch.StartNew();
        long? ttl = null;
        while (ttl is null)
        {
            try
            {
                ttl = await store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None);
            }
            catch (TimeoutException) when (healed.Elapsed < TimeSpan.FromSeconds(10))
            {
            }
        }
        Assert.True(ttl > 0);
    }

    [Fact]
    public async Task A_cancelled_renewal_ends_at_once_without_disturbing_the_others()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        // The other renewal waits on the held stream: a call timeout that no stall of a loaded machine reaches.
        await using var store = new EtcdStore(Settings(proxy.Endpoint, callTimeout: "20s"));
        var lease = await store.GrantLeaseAsync(30, CancellationToken.None);
        var other = await store.GrantLeaseAsync(30, CancellationToken.None);
        Assert.True(await store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None) > 0);

        proxy.Hold();
        var waiting = store.KeepAliveAsync(other.LeaseId, Patience, CancellationToken.None);
        using var cancel = new CancellationTokenSource();
        var cancelled = store.KeepAliveAsync(lease.LeaseId, Patience, cancel.Token);
        await proxy.HoldingAsync(TimeSpan.FromSeconds(5));
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.False(waiting.IsCompleted);

        proxy.Heal();
        Assert.True(await waiting > 0);
        Assert.True(await store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None) > 0);
    }
}
