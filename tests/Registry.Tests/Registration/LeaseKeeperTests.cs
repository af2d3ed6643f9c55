using Akka.Configuration;
using Akka.TestKit;
using Microsoft.Extensions.Time.Testing;
using Registry.Etcd;
using Registry.Registration;
using Registry.Tests.Fakes;

namespace Registry.Tests.Registration;

/// <summary>The lease keeper against the fake store: every lease renewed and checked, its owner told only of changes.</summary>
public sealed class LeaseKeeperTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config Fast = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        registry {
          renew-interval = 50ms
          key-check-interval = 50ms
          retry { min-backoff = 10ms, max-backoff = 50ms }
        }
        """);

    private const long Ttl = 3;
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly LeaseKeeper _keeper;
    private readonly TestProbe _owner;

    public LeaseKeeperTests() : base(Fast)
    {
        _keeper = new LeaseKeeper(_etcd, RegistrySettings.From(Fast));
        _owner = CreateTestProbe();
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) _keeper.Dispose();
        base.Dispose(disposing);
    }

    /// <summary>
    /// Grants a lease, writes its key bound to it (<paramref name="whileWriting"/> runs before the write answers) and
    /// hands it to <paramref name="keeper"/> (the test's by default).
    /// </summary>
    private async Task<(long Lease, string Key)> KeepAsync(int n, TestProbe? owner = null, LeaseKeeper? keeper = null, Action? whileWriting = null)
    {
        var key = $"/services/user/10.0.0.{n}:80";
        keeper ??= _keeper;
        var grantedAt = keeper.Now;
        var lease = (await _etcd.GrantLeaseAsync(Ttl, CancellationToken.None)).LeaseId;
        await _etcd.PutAsync(key, [1], lease, PutCondition.Always, CancellationToken.None);
        whileWriting?.Invoke();
        keeper.Keep(lease, key, [1], Ttl, (owner ?? _owner).Ref, grantedAt);
        return (lease, key);
    }

    /// <summary>A keeper on the fake clock <paramref name="time"/>: renewals every second, key checks every 5 s.</summary>
    private LeaseKeeper KeeperOn(FakeTimeProvider time) =>
        new(_etcd, RegistrySettings.From(ConfigurationFactory.ParseString("registry { renew-interval = 1s, key-check-interval = 5s }").WithFallback(Fast)), time);

    [Fact]
    public async Task A_renewal_gives_the_keep_alive_stream_its_lease_s_renew_interval_as_patience()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        await KeepAsync(1, keeper: keeper);

        time.Advance(TimeSpan.FromSeconds(1));

        await AwaitAssertAsync(() => Assert.Equal(TimeSpan.FromSeconds(1), _etcd.LastKeepAlivePatience), Wait);
    }

    [Fact]
    public async Task Every_kept_lease_is_renewed_again_and_again_without_a_word_to_its_owner()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        var kept = await Task.WhenAll(Enumerable.Range(1, 200).Select(n => KeepAsync(n, keeper: keeper)));

        for (var round = 0; round < 3; round++)
        {
            // 2 s of a 3 s TTL gone: each lease is alive only if renewed in every round (6 s in all: a key check too).
            _etcd.AdvanceTime(TimeSpan.FromSeconds(2));
            time.Advance(TimeSpan.FromSeconds(1));
            time.Advance(TimeSpan.FromSeconds(1));
            await AwaitAssertAsync(() => Assert.All(kept, k => Assert.Equal(Ttl, _etcd.TimeToLiveAsync(k.Lease, CancellationToken.None).Result)), Wait);
        }

        Assert.Equal(kept.Length, _etcd.LiveLeases.Count);
        Assert.Equal(kept.Length, _etcd.Calls(StoreOperation.Get));
        // The fake store answers at once, so whatever those runs told was told within Advance.
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_lease_of_the_longest_ttl_is_kept_with_the_default_intervals()
    {
        // Auto intervals: renewed every 900 s and its key checked every 3600 s, which the keeper's timer must be armed for.
        using var keeper = new LeaseKeeper(_etcd, RegistrySettings.From(ConfigurationFactory.Empty));
        var key = "/services/user/10.0.0.1:80";
        var lease = (await _etcd.GrantLeaseAsync(3600, CancellationToken.None)).LeaseId;
        await _etcd.PutAsync(key, [1], lease, PutCondition.Always, CancellationToken.None);

        keeper.Keep(lease, key, [1], 3600, _owner.Ref, grantedAt: null);
        await AwaitAssertAsync(() => Assert.Equal(1, _etcd.Calls(StoreOperation.KeepAlive)), Wait);

        // Still working after arming for the check: a second lease kept next is renewed at once too.
        var second = (await _etcd.GrantLeaseAsync(3600, CancellationToken.None)).LeaseId;
        await _etcd.PutAsync("/services/user/10.0.0.2:80", [1], second, PutCondition.Always, CancellationToken.None);
        keeper.Keep(second, "/services/user/10.0.0.2:80", [1], 3600, _owner.Ref, grantedAt: null);
        await AwaitAssertAsync(() => Assert.Equal(2, _etcd.Calls(StoreOperation.KeepAlive)), Wait);
        // Both answers handled once both renewals are queued again (two renewals, two checks): any news is told by then.
        await AwaitAssertAsync(() => Assert.Equal(4, keeper.Queued), Wait);
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_new_lease_is_first_renewed_one_interval_after_its_grant_not_after_its_write()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        // The write takes 0.7 s of the 1 s renewal interval.
        await KeepAsync(1, keeper: keeper, whileWriting: () => time.Advance(TimeSpan.FromMilliseconds(700)));

        time.Advance(TimeSpan.FromMilliseconds(150));
        Assert.Equal(0, _etcd.Calls(StoreOperation.KeepAlive));
        time.Advance(TimeSpan.FromMilliseconds(150));

        await AwaitAssertAsync(() => Assert.Equal(1, _etcd.Calls(StoreOperation.KeepAlive)), Wait);
    }

    [Fact]
    public async Task A_new_lease_whose_write_took_longer_than_the_interval_is_renewed_at_once()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        await KeepAsync(1, keeper: keeper, whileWriting: () => time.Advance(TimeSpan.FromMilliseconds(1500)));

        time.Advance(TimeSpan.FromMilliseconds(1));

        await AwaitAssertAsync(() => Assert.Equal(1, _etcd.Calls(StoreOperation.KeepAlive)), Wait);
    }

    [Fact]
    public async Task The_next_renewal_falls_due_one_interval_after_the_last_was_sent_however_long_its_answer_took()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        await KeepAsync(1, keeper: keeper);
        var answer = new TaskCompletionSource();
        _etcd.AfterCall = operation => operation == StoreOperation.KeepAlive ? answer.Task : Task.CompletedTask;

        time.Advance(TimeSpan.FromSeconds(1));
        await AwaitAssertAsync(() => Assert.Equal(1, _etcd.Calls(StoreOperation.KeepAlive)), Wait);
        // The answer takes 0.7 s of the 1 s interval to arrive; then the next renewal is queued beside the key check.
        time.Advance(TimeSpan.FromMilliseconds(700));
        _etcd.AfterCall = null;
        answer.SetResult();
        await AwaitAssertAsync(() => Assert.Equal(2, keeper.Queued), Wait);

        time.Advance(TimeSpan.FromMilliseconds(350));

        await AwaitAssertAsync(() => Assert.Equal(2, _etcd.Calls(StoreOperation.KeepAlive)), Wait);
    }

    [Fact]
    public async Task Failing_renewals_are_told_once_retried_and_their_recovery_told_once()
    {
        var (lease, _) = await KeepAsync(1);
        var renewals = _etcd.Calls(StoreOperation.KeepAlive);

        _etcd.FailKeepAlives();
        var failing = _owner.ExpectMsg<LeaseKeeper.RenewalFailing>(Wait);
        Assert.Equal(lease, failing.LeaseId);
        Assert.Contains(FakeRegistryStore.KeepAliveFailedMessage, failing.Reason);
        // Retried, not given up: more attempts, and no second message for the same run of failures.
        await AwaitAssertAsync(() => Assert.True(_etcd.Calls(StoreOperation.KeepAlive) >= renewals + 3), Wait);
        // A retry is scheduled only after its failure was handled, so a second message would be queued by now.
        _owner.ExpectNoMsg(TimeSpan.Zero);

        _etcd.Heal();
        var recovered = _owner.ExpectMsg<LeaseKeeper.RenewalsRecovered>(Wait);
        Assert.Equal(lease, recovered.LeaseId);
        Assert.True(recovered.Failures >= 3, $"{recovered.Failures} failures counted");
        _etcd.AdvanceTime(TimeSpan.FromSeconds(2));
        await AwaitAssertAsync(() => Assert.Equal(Ttl, _etcd.TimeToLiveAsync(lease, CancellationToken.None).Result), Wait);
    }

    [Fact]
    public async Task A_failed_renewal_is_retried_within_a_quarter_of_its_renew_interval_whatever_the_configured_back_off()
    {
        // A back-off of 20 s against renewals every second (and a 3 s TTL): each retry comes within a quarter of that
        // second, not one renew interval later, which after a cut could spend most of what the lease has left.
        var time = new FakeTimeProvider();
        using var keeper = new LeaseKeeper(_etcd, RegistrySettings.From(ConfigurationFactory.ParseString(
            "registry { renew-interval = 1s, key-check-interval = 5s, retry { min-backoff = 20s, max-backoff = 40s } }").WithFallback(Fast)), time);
        await KeepAsync(1, keeper: keeper);
        _etcd.FailKeepAlives();
        time.Advance(TimeSpan.FromSeconds(1));
        _owner.ExpectMsg<LeaseKeeper.RenewalFailing>(Wait);

        for (var retry = 1; retry <= 3; retry++)
        {
            var attempts = _etcd.Calls(StoreOperation.KeepAlive);
            time.Advance(TimeSpan.FromMilliseconds(250));
            await AwaitAssertAsync(() => Assert.Equal(attempts + 1, _etcd.Calls(StoreOperation.KeepAlive)), Wait);
        }
    }

    [Fact]
    public async Task Recoveries_do_not_add_key_checks()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        await KeepAsync(1, keeper: keeper);
        for (var blip = 0; blip < 5; blip++)
        {
            _etcd.FailKeepAlives();
            time.Advance(TimeSpan.FromSeconds(1));
            _owner.ExpectMsg<LeaseKeeper.RenewalFailing>(Wait);
            _etcd.Heal();
            time.Advance(TimeSpan.FromMilliseconds(100)); // past the retry's back-off (at most 50 ms here)
            _owner.ExpectMsg<LeaseKeeper.RenewalsRecovered>(Wait);
        }

        var checks = _etcd.Calls(StoreOperation.Get);
        for (var second = 0; second < 50; second++) time.Advance(TimeSpan.FromSeconds(1));

        // One check every 5 s; a check chain left behind by each recovery would make it 60.
        Assert.InRange(_etcd.Calls(StoreOperation.Get) - checks, 10, 11);
    }

    [Fact]
    public async Task A_key_check_in_flight_when_renewals_recover_is_followed_by_another_at_once()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        await KeepAsync(1, keeper: keeper);
        var held = new TaskCompletionSource();
        _etcd.BeforeCall = operation => operation == StoreOperation.Get ? held.Task : Task.CompletedTask;

        // Renewals fail; the key check due at 5 s goes out and stays in flight.
        _etcd.FailKeepAlives();
        time.Advance(TimeSpan.FromSeconds(1));
        _owner.ExpectMsg<LeaseKeeper.RenewalFailing>(Wait);
        for (var step = 0; step < 45; step++) time.Advance(TimeSpan.FromMilliseconds(100));
        Assert.Equal(1, _etcd.Calls(StoreOperation.Get));
        _etcd.Heal();
        time.Advance(TimeSpan.FromMilliseconds(100));
        _owner.ExpectMsg<LeaseKeeper.RenewalsRecovered>(Wait);

        // That check, sent during the outage, fails: the next one goes out now, not a check interval later.
        _etcd.BeforeCall = null;
        held.SetException(new StoreUnavailableException(FakeRegistryStore.UnavailableMessage));
        time.Advance(TimeSpan.FromMilliseconds(1));

        await AwaitAssertAsync(() => Assert.Equal(2, _etcd.Calls(StoreOperation.Get)), Wait);
    }

    [Fact]
    public async Task A_lease_gone_is_told_once_and_no_longer_renewed()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        var (lease, _) = await KeepAsync(1, keeper: keeper);
        var (other, _) = await KeepAsync(2, keeper: keeper);

        _etcd.ExpireLease(lease);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(lease, _owner.ExpectMsg<LeaseKeeper.LeaseExpired>(Wait).LeaseId);
        var renewals = _etcd.Calls(StoreOperation.KeepAlive);
        _etcd.AdvanceTime(TimeSpan.FromSeconds(2));
        // Past more renewals and a key check: only the other lease's.
        for (var second = 0; second < 6; second++) time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(Ttl, await _etcd.TimeToLiveAsync(other, CancellationToken.None));
        Assert.Equal(renewals + 6, _etcd.Calls(StoreOperation.KeepAlive));
        // The fake store answers at once, so whatever those runs told was told within Advance.
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_key_deleted_while_its_lease_lives_is_told_as_missing_once()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        var (lease, key) = await KeepAsync(1, keeper: keeper);

        await _etcd.DeleteAsync(key, CancellationToken.None);
        for (var second = 0; second < 5; second++) time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(lease, _owner.ExpectMsg<LeaseKeeper.KeyMissing>(Wait).LeaseId);
        for (var second = 0; second < 6; second++) time.Advance(TimeSpan.FromSeconds(1));
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_key_holding_another_value_on_its_lease_is_told_as_changed_once()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        var (lease, key) = await KeepAsync(1, keeper: keeper);

        await _etcd.PutAsync(key, [2], lease, PutCondition.Always, CancellationToken.None);
        for (var second = 0; second < 5; second++) time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(lease, _owner.ExpectMsg<LeaseKeeper.KeyChanged>(Wait).LeaseId);
        for (var second = 0; second < 6; second++) time.Advance(TimeSpan.FromSeconds(1));
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_key_bound_to_another_lease_is_told_as_taken_naming_that_lease()
    {
        var (lease, key) = await KeepAsync(1);
        var newer = (await _etcd.GrantLeaseAsync(Ttl, CancellationToken.None)).LeaseId;

        await _etcd.PutAsync(key, [2], newer, PutCondition.Always, CancellationToken.None);

        Assert.Equal(new LeaseKeeper.KeyTaken(lease, newer), _owner.ExpectMsg<LeaseKeeper.KeyTaken>(Wait));
    }

    [Fact]
    public async Task A_lease_kept_again_and_again_leaves_a_bounded_queue_and_the_other_leases_kept()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        await KeepAsync(2, keeper: keeper);

        // A value updated 10,000 times before any check falls due: each update forgets the lease and keeps it again.
        for (var update = 0; update < 10_000; update++)
        {
            keeper.Forget(1, _owner.Ref);
            keeper.Keep(1, "/services/user/10.0.0.1:80", [(byte)update], Ttl, _owner.Ref, keeper.Now);
        }

        Assert.InRange(keeper.Queued, 4, 4 * 2 + 64 + 2);
        // What was dropped was stale only: one renewal interval later both leases are renewed.
        time.Advance(TimeSpan.FromSeconds(1));
        await AwaitAssertAsync(() => Assert.Equal(2, _etcd.Calls(StoreOperation.KeepAlive)), Wait);
    }

    [Fact]
    public async Task A_failed_key_read_counts_as_unchanged()
    {
        await KeepAsync(1);
        var reads = _etcd.Calls(StoreOperation.Get);

        _etcd.MakeUnavailable();
        await AwaitAssertAsync(() => Assert.True(_etcd.Calls(StoreOperation.Get) >= reads + 3), Wait);

        Assert.IsType<LeaseKeeper.RenewalFailing>(_owner.ExpectMsg<object>(Wait));
        // A check is scheduled again only after the one before was handled: news of the first reads is queued by now.
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_forgotten_lease_is_neither_renewed_nor_reported()
    {
        // On a fake clock every run of the keeper happens inside Advance: none can be under way when Forget is called.
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        var (lease, key) = await KeepAsync(1, keeper: keeper);
        var (control, _) = await KeepAsync(2, keeper: keeper);

        keeper.Forget(lease, _owner.Ref);
        await _etcd.DeleteAsync(key, CancellationToken.None);
        _etcd.AdvanceTime(TimeSpan.FromSeconds(2));
        // Past a renewal and a key check of both leases.
        for (var second = 0; second < 6; second++) time.Advance(TimeSpan.FromSeconds(1));

        // 2 s of a 3 s TTL gone: the control lease is renewed to its full TTL, the forgotten one is not.
        await AwaitAssertAsync(() => Assert.Equal(Ttl, _etcd.TimeToLiveAsync(control, CancellationToken.None).Result), Wait);
        Assert.Equal(Ttl - 2, await _etcd.TimeToLiveAsync(lease, CancellationToken.None));
        // The fake store answers at once, so whatever those runs told was told within Advance.
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task Only_the_current_owner_of_a_lease_can_forget_it()
    {
        var time = new FakeTimeProvider();
        using var keeper = KeeperOn(time);
        var (lease, key) = await KeepAsync(1, keeper: keeper);
        var successor = CreateTestProbe();
        keeper.Keep(lease, key, [1], Ttl, successor.Ref, keeper.Now);

        keeper.Forget(lease, _owner.Ref);
        _etcd.ExpireLease(lease);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(lease, successor.ExpectMsg<LeaseKeeper.LeaseExpired>(Wait).LeaseId);
        _owner.ExpectNoMsg(TimeSpan.Zero);
    }
}
