using System.Text;
using Registry.Etcd;

namespace Registry.Tests.Fakes;

public sealed class FakeRegistryStoreTests
{
    // A guard against a hanging test, never a synchronisation: every awaited result is already due.
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    // The fake's keep-alives have no stream to be patient with.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    private readonly FakeRegistryStore _store = new();

    // ---- revisions and keys

    [Fact]
    public async Task An_empty_store_is_at_revision_one()
    {
        var listing = await _store.ListAsync("", CancellationToken.None);

        Assert.Equal(1, listing.Revision);
        Assert.Empty(listing.Values);
    }

    [Fact]
    public async Task Each_change_adds_one_revision_and_a_key_keeps_its_create_revision_until_deleted()
    {
        var created = await Put("/s/a", "1");
        Assert.True(created.Succeeded);
        Assert.Equal(2, created.Revision);
        Assert.Null(created.Other);
        Assert.Equal((2L, 2L), Revisions(_store.Peek("/s/a")));

        var updated = await Put("/s/a", "2");
        Assert.Equal(3, updated.Revision);
        Assert.Equal("1", Text(updated.Other));
        Assert.Equal((2L, 3L), Revisions(_store.Peek("/s/a")));

        Assert.True(await _store.DeleteAsync("/s/a", CancellationToken.None));
        Assert.Equal(4, _store.Revision);
        Assert.Null(await _store.GetAsync("/s/a", CancellationToken.None));

        Assert.False(await _store.DeleteAsync("/s/a", CancellationToken.None));
        Assert.Equal(4, _store.Revision);

        await Put("/s/a", "3");
        Assert.Equal((5L, 5L), Revisions(_store.Peek("/s/a")));
    }

    [Fact]
    public async Task A_listing_holds_the_keys_under_the_prefix_in_key_order_at_the_current_revision()
    {
        await Put("/s/b", "b");
        await Put("/s/a", "a");
        await Put("/t/a", "other service");
        await Put("/s-a", "outside the prefix");

        var listing = await _store.ListAsync("/s/", CancellationToken.None);

        Assert.Equal(5, listing.Revision);
        Assert.Equal(["/s/a", "/s/b"], listing.Values.Select(v => v.Key));
    }

    [Fact]
    public async Task A_put_keeps_its_own_copy_of_the_value()
    {
        var buffer = Encoding.UTF8.GetBytes("v");
        await _store.PutAsync("/s/a", buffer, 0, PutCondition.Always, CancellationToken.None);

        buffer[0] = (byte)'x';

        Assert.Equal("v", Text(_store.Peek("/s/a")));
    }

    // ---- leases

    [Fact]
    public async Task Grants_get_distinct_non_zero_ids_and_a_short_ttl_is_raised_to_etcds_minimum()
    {
        var a = await Grant(10);
        var b = await Grant(1);

        Assert.NotEqual(0, a.LeaseId);
        Assert.NotEqual(0, b.LeaseId);
        Assert.NotEqual(a.LeaseId, b.LeaseId);
        Assert.Equal(10, a.TtlSeconds);
        Assert.Equal(FakeRegistryStore.MinLeaseTtlSeconds, b.TtlSeconds);
        Assert.Equal([a.LeaseId, b.LeaseId], _store.LiveLeases);
    }

    [Fact]
    public async Task A_lease_expires_once_its_ttl_runs_out_without_renewal()
    {
        var lease = await Grant(10);

        _store.AdvanceTime(TimeSpan.FromSeconds(2.5));
        Assert.Equal(7, await TimeToLive(lease));

        // etcd truncates: a lease in its last second reads 0 and is still alive.
        _store.AdvanceTime(TimeSpan.FromSeconds(7.4));
        Assert.Equal(0, await TimeToLive(lease));
        Assert.Contains(lease.LeaseId, _store.LiveLeases);

        _store.AdvanceTime(TimeSpan.FromSeconds(0.1));
        Assert.Equal(-1, await TimeToLive(lease));
        Assert.Equal(0, await _store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None));
        Assert.Empty(_store.LiveLeases);
    }

    [Fact]
    public async Task A_keep_alive_returns_the_ttl_and_restarts_it()
    {
        var lease = await Grant(10);
        _store.AdvanceTime(TimeSpan.FromSeconds(8));

        Assert.Equal(10, await _store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None));
        Assert.Equal(10, await TimeToLive(lease));

        _store.AdvanceTime(TimeSpan.FromSeconds(8));
        Assert.Contains(lease.LeaseId, _store.LiveLeases);
        _store.AdvanceTime(TimeSpan.FromSeconds(2));
        Assert.DoesNotContain(lease.LeaseId, _store.LiveLeases);
    }

    [Fact]
    public async Task An_expiring_lease_deletes_its_keys_in_one_revision_per_lease()
    {
        var first = await Grant(10);
        var second = await Grant(10);
        await Put("/s/b", "b", first.LeaseId);
        await Put("/s/a", "a", first.LeaseId);
        await Put("/s/c", "c", second.LeaseId);
        await Put("/s/d", "no lease");
        await using var watch = Watch(_store, "/s/", 6);
        var opened = OpenAsync(watch);

        _store.AdvanceTime(TimeSpan.FromSeconds(10));

        var firstExpiry = await CurrentAsync(watch, opened);
        Assert.Equal(6, firstExpiry.Revision);
        Assert.Equal(["/s/a", "/s/b"], firstExpiry.Events.Select(e => e.Current.Key));
        Assert.All(firstExpiry.Events, e => Assert.Equal(WatchEventKind.Delete, e.Kind));
        var secondExpiry = await NextAsync(watch);
        Assert.Equal(7, secondExpiry.Revision);
        Assert.Equal(["/s/c"], secondExpiry.Events.Select(e => e.Current.Key));
        Assert.Equal(["/s/d"], (await _store.ListAsync("/s/", CancellationToken.None)).Values.Select(v => v.Key));
    }

    [Fact]
    public async Task ExpireLease_deletes_the_keys_at_once_and_a_lease_without_keys_adds_no_revision()
    {
        var bound = await Grant(10);
        var unused = await Grant(10);
        await Put("/s/a", "a", bound.LeaseId);

        Assert.True(_store.ExpireLease(bound.LeaseId));
        Assert.Equal(3, _store.Revision);
        Assert.Null(_store.Peek("/s/a"));

        Assert.True(_store.ExpireLease(unused.LeaseId));
        Assert.Equal(3, _store.Revision);

        Assert.False(_store.ExpireLease(bound.LeaseId));
        Assert.Empty(_store.LiveLeases);
    }

    [Fact]
    public async Task A_revoke_deletes_the_bound_keys_and_a_lease_already_gone_is_no_error()
    {
        var lease = await Grant(10);
        await Put("/s/a", "a", lease.LeaseId);

        await _store.RevokeLeaseAsync(lease.LeaseId, CancellationToken.None);
        await _store.RevokeLeaseAsync(lease.LeaseId, CancellationToken.None);

        Assert.Null(_store.Peek("/s/a"));
        Assert.Equal(3, _store.Revision);
        Assert.Equal(-1, await TimeToLive(lease));
    }

    [Fact]
    public async Task A_put_with_an_unknown_lease_fails_only_when_its_compare_holds()
    {
        var failure = await Assert.ThrowsAsync<LeaseNotFoundException>(() => Put("/s/a", "v", leaseId: 42));
        Assert.Equal(42, failure.LeaseId);
        Assert.Null(_store.Peek("/s/a"));
        Assert.Equal(1, _store.Revision);

        await Put("/s/a", "v");
        var refused = await Put("/s/a", "w", leaseId: 42, PutCondition.Absent);
        Assert.False(refused.Succeeded);
    }

    [Fact]
    public async Task A_key_written_again_belongs_only_to_its_new_lease()
    {
        var old = await Grant(10);
        var current = await Grant(10);
        await Put("/s/a", "1", old.LeaseId);
        await Put("/s/a", "2", current.LeaseId);

        _store.ExpireLease(old.LeaseId);
        Assert.Equal("2", Text(_store.Peek("/s/a")));
        Assert.Equal(3, _store.Revision);

        await Put("/s/a", "3");
        _store.ExpireLease(current.LeaseId);
        Assert.Equal("3", Text(_store.Peek("/s/a")));
        Assert.Equal(4, _store.Revision);
    }

    [Fact]
    public async Task A_deleted_key_is_no_longer_bound_to_its_lease()
    {
        var lease = await Grant(10);
        await Put("/s/a", "1", lease.LeaseId);
        await _store.DeleteAsync("/s/a", CancellationToken.None);
        await Put("/s/a", "2");

        _store.ExpireLease(lease.LeaseId);

        Assert.Equal("2", Text(_store.Peek("/s/a")));
        Assert.Equal(4, _store.Revision);
    }

    // ---- put conditions

    [Fact]
    public async Task Always_writes_and_returns_the_previous_value()
    {
        var first = await Put("/s/a", "1", condition: PutCondition.Always);
        var second = await Put("/s/a", "2", condition: PutCondition.Always);

        Assert.True(first.Succeeded);
        Assert.Null(first.Other);
        Assert.True(second.Succeeded);
        Assert.Equal("1", Text(second.Other));
    }

    [Fact]
    public async Task Absent_writes_only_a_missing_key_and_otherwise_returns_the_current_value()
    {
        var created = await Put("/s/a", "1", condition: PutCondition.Absent);
        Assert.True(created.Succeeded);
        Assert.Null(created.Other);

        var refused = await Put("/s/a", "2", condition: PutCondition.Absent);
        Assert.False(refused.Succeeded);
        Assert.Equal(2, refused.Revision);
        Assert.Equal("1", Text(refused.Other));
        Assert.Equal("1", Text(_store.Peek("/s/a")));
    }

    [Fact]
    public async Task BoundTo_writes_only_a_key_that_exists_and_is_bound_to_that_lease()
    {
        var mine = await Grant(10);
        var theirs = await Grant(10);

        var missing = await Put("/s/a", "1", mine.LeaseId, PutCondition.BoundTo(mine.LeaseId));
        Assert.False(missing.Succeeded);
        Assert.Null(missing.Other);
        Assert.Equal(1, missing.Revision);
        // etcd alone would compare a missing key as lease 0; bound to no lease still needs the key.
        Assert.False((await Put("/s/a", "1", condition: PutCondition.BoundTo(0))).Succeeded);

        await Put("/s/a", "theirs", theirs.LeaseId);
        var taken = await Put("/s/a", "mine", mine.LeaseId, PutCondition.BoundTo(mine.LeaseId));
        Assert.False(taken.Succeeded);
        Assert.Equal(theirs.LeaseId, taken.Other?.LeaseId);

        var renewed = await Put("/s/a", "theirs again", theirs.LeaseId, PutCondition.BoundTo(theirs.LeaseId));
        Assert.True(renewed.Succeeded);
        Assert.Equal(3, renewed.Revision);
        Assert.Equal("theirs", Text(renewed.Other));
        Assert.Equal("theirs again", Text(_store.Peek("/s/a")));
    }

    // ---- watches

    [Fact]
    public async Task A_watch_replays_history_from_its_start_revision_then_streams_live_changes()
    {
        await Put("/s/a", "1");
        await Put("/s/b", "b");
        await Put("/s/a", "2");
        await using var watch = Watch(_store, "/s/", 3);

        // Replayed history comes in one response at the current revision, as etcd sends it.
        var replay = await NextAsync(watch);
        Assert.Equal(4, replay.Revision);
        Assert.Equal([("/s/b", 3L), ("/s/a", 4L)], replay.Events.Select(e => (e.Current.Key, e.Current.ModRevision)));
        Assert.Null(replay.Events[0].Previous);
        Assert.Equal("1", Text(replay.Events[1].Previous));

        await _store.DeleteAsync("/s/b", CancellationToken.None);
        await Put("/t/x", "another prefix");
        await Put("/s/c", "c");

        var deletion = await NextAsync(watch);
        Assert.Equal(5, deletion.Revision);
        var deleted = Assert.Single(deletion.Events);
        Assert.Equal(WatchEventKind.Delete, deleted.Kind);
        Assert.Equal(("/s/b", 5L), (deleted.Current.Key, deleted.Current.ModRevision));
        Assert.Equal("b", Text(deleted.Previous));

        var creation = await NextAsync(watch);
        Assert.Equal(7, creation.Revision);
        Assert.Equal(WatchEventKind.Put, Assert.Single(creation.Events).Kind);
    }

    [Fact]
    public async Task A_watch_from_the_next_revision_waits_for_the_next_change()
    {
        await Put("/s/a", "1");
        await using var watch = Watch(_store, "/s/", 3);

        var next = OpenAsync(watch);
        Assert.False(next.IsCompleted);

        await Put("/s/a", "2");

        Assert.Equal(3, (await CurrentAsync(watch, next)).Revision);
    }

    [Fact]
    public async Task A_watch_from_a_later_revision_skips_the_changes_before_it()
    {
        await using var watch = Watch(_store, "/s/", 4);
        var next = OpenAsync(watch);

        await Put("/s/a", "1");
        await Put("/s/a", "2");
        await Put("/s/a", "3");

        var batch = await CurrentAsync(watch, next);
        Assert.Equal(4, batch.Revision);
        Assert.Equal("3", Text(Assert.Single(batch.Events).Current));
    }

    [Fact]
    public async Task A_watch_below_the_compact_revision_is_created_then_cancelled_with_the_compact_revision()
    {
        for (var i = 0; i < 4; i++)
        {
            await Put("/s/a", $"{i}");
        }
        _store.Compact(4);

        // As etcd: the creation is confirmed, and the watch is cancelled when etcd first tries to catch it up.
        await using var watch = _store.WatchAsync("/s/", 3, CancellationToken.None).GetAsyncEnumerator();
        Assert.Empty((await NextAsync(watch)).Events);
        await Put("/s/a", "late");

        var failure = await Assert.ThrowsAsync<RevisionCompactedException>(() => NextAsync(watch));
        Assert.Equal(4, failure.CompactRevision);
        Assert.Equal(4, _store.CompactRevision);
    }

    [Fact]
    public async Task A_watch_at_the_compact_revision_replays_it_without_previous_values_older_than_it()
    {
        await Put("/s/a", "1");
        await Put("/s/a", "2");
        await Put("/s/a", "3");
        _store.Compact(3);

        await using var watch = Watch(_store, "/s/", 3);

        var replay = await NextAsync(watch);
        Assert.Equal([3L, 4L], replay.Events.Select(e => e.Current.ModRevision));
        Assert.Null(replay.Events[0].Previous);
        Assert.Equal("2", Text(replay.Events[1].Previous));
    }

    [Fact]
    public async Task A_deletion_at_the_compact_revision_is_still_replayed()
    {
        await Put("/s/a", "1");
        await _store.DeleteAsync("/s/a", CancellationToken.None);
        _store.Compact(3);

        await using var watch = Watch(_store, "/s/", 3);

        var deleted = Assert.Single((await NextAsync(watch)).Events);
        Assert.Equal((WatchEventKind.Delete, 3L), (deleted.Kind, deleted.Current.ModRevision));
    }

    [Fact]
    public async Task An_old_etcd_drops_a_deletion_at_the_compact_revision_and_still_serves_a_watch_from_it()
    {
        _store.DropsDeletionAtCompactRevision = true;
        await Put("/s/a", "1");
        await Put("/s/b", "1");
        await _store.DeleteAsync("/s/a", CancellationToken.None);
        _store.Compact(4);
        await using var watch = Watch(_store, "/s/", 4);
        var first = OpenAsync(watch);

        await Put("/s/c", "1");

        var only = Assert.Single((await CurrentAsync(watch, first)).Events);
        Assert.Equal(("/s/c", 5L), (only.Current.Key, only.Current.ModRevision));
    }

    [Fact]
    public async Task An_old_etcd_sends_a_watch_the_events_it_was_sent_again()
    {
        await Put("/s/a", "1");
        await Put("/s/b", "1");
        await using var watch = Watch(_store, "/s/", 2);
        Assert.Equal(2, (await NextAsync(watch)).Events.Count);
        await Put("/s/a", "2");
        Assert.Equal(4, Assert.Single((await NextAsync(watch)).Events).Current.ModRevision);

        _store.ResendFrom(3);

        var again = await NextAsync(watch);
        Assert.Equal(4, again.Revision);
        Assert.Equal([("/s/b", 3L), ("/s/a", 4L)], again.Events.Select(e => (e.Current.Key, e.Current.ModRevision)));
    }

    [Fact]
    public async Task An_event_queued_before_a_compaction_at_its_revision_goes_out_without_its_previous_value()
    {
        await Put("/s/a", "1");
        // Taken one response at a time: the change stays queued until the compaction.
        await using var watch = _store.WatchAsync("/s/", 3, CancellationToken.None).GetAsyncEnumerator();
        Assert.Empty((await NextAsync(watch)).Events);
        await Put("/s/a", "2");

        _store.Compact(3);

        var changed = Assert.Single((await NextAsync(watch)).Events);
        Assert.Equal(3, changed.Current.ModRevision);
        Assert.Null(changed.Previous);
    }

    [Fact]
    public async Task Compaction_cancels_a_watch_still_behind_it_and_spares_one_that_caught_up()
    {
        await using var behind = Watch(_store, "/s/", 2);
        await using var caughtUp = Watch(_store, "/s/", 2);
        await Put("/s/a", "1");
        await NextAsync(behind);
        await NextAsync(caughtUp);
        await Put("/s/b", "1");
        await Put("/s/c", "1");
        await NextAsync(caughtUp);
        await NextAsync(caughtUp);

        _store.Compact(4);

        var failure = await Assert.ThrowsAsync<RevisionCompactedException>(() => NextAsync(behind));
        Assert.Equal(4, failure.CompactRevision);
        await Put("/s/d", "1");
        Assert.Equal(5, (await NextAsync(caughtUp)).Revision);
    }

    [Fact]
    public async Task Compaction_refuses_a_revision_already_compacted_or_not_yet_written()
    {
        await Put("/s/a", "1");
        await Put("/s/a", "2");
        _store.Compact(2);

        Assert.Throws<ArgumentOutOfRangeException>(() => _store.Compact(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => _store.Compact(4));
        _store.Compact(3);
    }

    [Fact]
    public async Task A_progress_notification_reports_the_current_revision_after_the_pending_changes()
    {
        await using var watch = Watch(_store, "/s/", 2);
        var first = OpenAsync(watch);
        await Put("/s/a", "1");
        await Put("/t/a", "unwatched");

        _store.NotifyProgress();

        Assert.Equal(2, (await CurrentAsync(watch, first)).Revision);
        var progress = await NextAsync(watch);
        Assert.Equal(3, progress.Revision);
        Assert.Empty(progress.Events);
    }

    [Fact]
    public async Task Progress_notifications_keep_coming_while_other_prefixes_change()
    {
        var store = new FakeRegistryStore { ProgressInterval = TimeSpan.FromMilliseconds(50) };
        var writer = store.Connect();
        using var stop = new CancellationTokenSource();
        // Another prefix changes every few milliseconds: more often than the interval, so a timer it restarted never fires.
        var writes = Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                await writer.PutAsync("/other/x", Encoding.UTF8.GetBytes($"{i}"), 0, PutCondition.Always, CancellationToken.None);
                await Task.Delay(5);
            }
        });
        await using var watch = Watch(store, "/s/", store.Revision + 1);
        await NextAsync(watch);

        var progress = await NextAsync(watch);
        var later = await NextAsync(watch);

        await stop.CancelAsync();
        await writes;
        Assert.Empty(progress.Events);
        Assert.Empty(later.Events);
        Assert.True(later.Revision > progress.Revision);
    }

    [Fact]
    public async Task A_progress_notification_never_reports_a_revision_ahead_of_an_event_still_to_come()
    {
        var store = new FakeRegistryStore { ProgressInterval = TimeSpan.FromMilliseconds(1) };
        var writer = store.Connect();
        const int writes = 500;
        await using var watch = Watch(store, "/s/", 2);
        await NextAsync(watch);
        var writing = Task.Run(async () =>
        {
            for (var i = 0; i < writes; i++)
            {
                await writer.PutAsync("/s/a", Encoding.UTF8.GetBytes($"{i}"), 0, PutCondition.Always, CancellationToken.None);
                if (i % 3 == 0) await Task.Delay(1);
            }
        });

        long reported = 0;
        var late = new List<string>();
        for (var last = 0L; last < writes + 1;)
        {
            var batch = await NextAsync(watch);
            if (batch.Events.Count == 0) reported = Math.Max(reported, batch.Revision);
            foreach (var e in batch.Events.Where(e => e.Current.ModRevision <= reported)) late.Add($"event at {e.Current.ModRevision} after progress at {reported}");
            last = batch.Events.Select(e => e.Current.ModRevision).DefaultIfEmpty(last).Max();
        }

        await writing;
        Assert.Empty(late);
    }

    [Fact]
    public async Task Cancelling_a_watch_ends_it()
    {
        using var cts = new CancellationTokenSource();
        await using var watch = Watch(_store, "/s/", 2, cts.Token);
        var next = OpenAsync(watch);
        Assert.Equal(1, _store.OpenWatches);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => next.WaitAsync(Timeout));
        Assert.Equal(0, _store.OpenWatches);
    }

    [Fact]
    public async Task A_cancelled_watch_delivers_nothing_more_even_when_responses_are_queued()
    {
        using var cts = new CancellationTokenSource();
        await using var watch = Watch(_store, "/s/", 2, cts.Token);
        await Put("/s/a", "1");
        await NextAsync(watch);
        await Put("/s/b", "1");

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => NextAsync(watch));
        Assert.Equal(0, _store.OpenWatches);
    }

    // ---- faults

    [Fact]
    public async Task An_unavailable_store_fails_every_call_and_breaks_open_watches_until_healed()
    {
        var lease = await Grant(10);
        await using var open = Watch(_store, "/s/", 2);
        var next = OpenAsync(open);

        _store.MakeUnavailable();

        var broken = await Assert.ThrowsAsync<StoreUnavailableException>(() => next.WaitAsync(Timeout));
        Assert.Equal(FakeRegistryStore.UnavailableMessage, broken.Message);
        var none = CancellationToken.None;
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.GrantLeaseAsync(10, none));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.KeepAliveAsync(lease.LeaseId, Patience, none));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.TimeToLiveAsync(lease.LeaseId, none));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.RevokeLeaseAsync(lease.LeaseId, none));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.GetAsync("/s/a", none));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.ListAsync("/s/", none));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => Put("/s/a", "1"));
        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.DeleteAsync("/s/a", none));
        await using var refused = Watch(_store, "/s/", 2);
        await Assert.ThrowsAsync<StoreUnavailableException>(() => NextAsync(refused));

        _store.Heal();

        Assert.True((await Put("/s/a", "1")).Succeeded);
    }

    [Fact]
    public async Task A_hung_call_waits_until_the_store_heals()
    {
        _store.Hang();
        var listing = _store.ListAsync("/s/", CancellationToken.None);
        Assert.False(listing.IsCompleted);

        _store.Heal();

        Assert.Equal(1, (await listing.WaitAsync(Timeout)).Revision);
    }

    [Fact]
    public async Task A_hung_call_fails_after_the_call_timeout_while_a_hung_watch_keeps_waiting()
    {
        await using var watch = Watch(_store, "/s/", 1);
        _store.CallTimeout = TimeSpan.FromMilliseconds(100);
        _store.Hang();
        var next = OpenAsync(watch);

        var error = await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.ListAsync("/s/", CancellationToken.None).WaitAsync(Timeout));

        Assert.Equal(FakeRegistryStore.DeadlineMessage, error.Message);
        Assert.False(next.IsCompleted);
        _store.Heal();
        await Put("/s/a", "1");
        Assert.Equal(2, (await CurrentAsync(watch, next)).Revision);
    }

    [Fact]
    public async Task A_hung_call_ends_when_cancelled()
    {
        using var cts = new CancellationTokenSource();
        _store.Hang();
        var grant = _store.GrantLeaseAsync(10, cts.Token);

        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => grant.WaitAsync(Timeout));
        Assert.Empty(_store.LiveLeases);
    }

    [Fact]
    public async Task A_call_already_cancelled_changes_nothing()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => _store.GrantLeaseAsync(10, cts.Token));

        Assert.Empty(_store.LiveLeases);
    }

    [Fact]
    public async Task A_hung_call_fails_when_the_store_becomes_unavailable()
    {
        _store.Hang();
        var get = _store.GetAsync("/s/a", CancellationToken.None);

        _store.MakeUnavailable();

        await Assert.ThrowsAsync<StoreUnavailableException>(() => get.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_hung_connection_holds_watch_responses_back_until_it_heals()
    {
        var other = _store.Connect();
        await using var watch = Watch(_store, "/s/", 2);
        await Put("/s/a", "1");
        await NextAsync(watch);
        _store.Hang();
        await other.PutAsync("/s/b", Encoding.UTF8.GetBytes("1"), 0, PutCondition.Always, CancellationToken.None);

        // The response is queued already; a step taken now would complete at once if the hang did not hold it.
        var next = OpenAsync(watch);
        Assert.False(next.IsCompleted);

        _store.Heal();

        Assert.Equal(3, (await CurrentAsync(watch, next)).Revision);
    }

    [Fact]
    public async Task Faults_and_counters_belong_to_one_connection_while_the_data_is_shared()
    {
        var service = _store.Connect();
        await service.PutAsync("/s/a", Encoding.UTF8.GetBytes("1"), 0, PutCondition.Always, CancellationToken.None);

        service.MakeUnavailable();

        await Assert.ThrowsAsync<StoreUnavailableException>(() => service.GetAsync("/s/a", CancellationToken.None));
        Assert.Equal("1", Text(await _store.GetAsync("/s/a", CancellationToken.None)));
        Assert.Equal(1, service.Calls(StoreOperation.Put));
        Assert.Equal(0, _store.Calls(StoreOperation.Put));
        Assert.Equal(2, service.Revision);
    }

    [Fact]
    public async Task Failing_keep_alives_leave_other_calls_working_and_let_the_lease_expire()
    {
        var lease = await Grant(10);
        await Put("/s/a", "1", lease.LeaseId);
        _store.FailKeepAlives();

        await Assert.ThrowsAsync<StoreUnavailableException>(() => _store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None));
        Assert.Equal(10, await TimeToLive(lease));
        _store.AdvanceTime(TimeSpan.FromSeconds(10));
        Assert.Null(await _store.GetAsync("/s/a", CancellationToken.None));

        _store.Heal();

        Assert.Equal(0, await _store.KeepAliveAsync(lease.LeaseId, Patience, CancellationToken.None));
    }

    [Fact]
    public async Task A_broken_watch_loses_what_it_had_not_delivered_and_a_resumed_watch_misses_nothing()
    {
        await using var watch = Watch(_store, "/s/", 2);
        await Put("/s/a", "1");
        var seen = (await NextAsync(watch)).Revision;
        await Put("/s/b", "1");

        _store.BreakWatches();

        await Assert.ThrowsAsync<StoreUnavailableException>(() => NextAsync(watch));
        await using var resumed = Watch(_store, "/s/", seen + 1);
        Assert.Equal("/s/b", Assert.Single((await NextAsync(resumed)).Events).Current.Key);
    }

    [Fact]
    public async Task A_closed_watch_ends_without_an_error()
    {
        await using var watch = Watch(_store, "/s/", 2);
        var next = OpenAsync(watch);

        _store.CloseWatches();

        Assert.False(await next.WaitAsync(Timeout));
        Assert.Equal(0, _store.OpenWatches);
    }

    [Fact]
    public async Task Calls_are_counted_per_operation_failed_ones_included()
    {
        await Grant(10);
        await Grant(10);
        _store.MakeUnavailable();
        await Assert.ThrowsAsync<StoreUnavailableException>(() => Grant(10));

        Assert.Equal(3, _store.Calls(StoreOperation.GrantLease));
        Assert.Equal(0, _store.Calls(StoreOperation.KeepAlive));
    }

    [Fact]
    public async Task A_disposed_connection_refuses_calls_and_ends_its_watches()
    {
        var service = _store.Connect();
        await using var watch = Watch(service, "/s/", 2);
        var next = OpenAsync(watch);

        await service.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => next.WaitAsync(Timeout));
        await Assert.ThrowsAsync<ObjectDisposedException>(() => service.GetAsync("/s/a", CancellationToken.None));
        Assert.Null(await _store.GetAsync("/s/a", CancellationToken.None));
    }

    // ---- concurrency

    [Fact]
    public async Task Concurrent_writers_get_distinct_revisions_and_a_watch_sees_every_change_in_order()
    {
        const int writers = 8;
        const int putsEach = 50;
        await using var watch = Watch(_store, "/s/", 2);
        var first = OpenAsync(watch);

        var writing = Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < putsEach; i++)
            {
                await Put($"/s/{w}", $"{i}");
            }
        })));
        List<WatchBatch> batches = [await CurrentAsync(watch, first)];
        while (batches.Count < writers * putsEach)
        {
            batches.Add(await NextAsync(watch));
        }
        await writing.WaitAsync(Timeout);

        Assert.Equal(Enumerable.Range(2, writers * putsEach).Select(r => (long)r), batches.Select(b => b.Revision));
        Assert.All(batches, b => Assert.Equal(b.Revision, Assert.Single(b.Events).Current.ModRevision));
        Assert.Equal(1 + writers * putsEach, _store.Revision);
    }

    // ---- helpers

    private Task<PutOutcome> Put(string key, string value, long leaseId = 0, PutCondition? condition = null) =>
        _store.PutAsync(key, Encoding.UTF8.GetBytes(value), leaseId, condition ?? PutCondition.Always, CancellationToken.None);

    [Fact]
    public async Task A_new_watch_first_answers_with_an_empty_batch_at_the_current_revision()
    {
        await Put("/s/a", "v");
        await using var watch = _store.WatchAsync("/s/", _store.Revision + 1, CancellationToken.None).GetAsyncEnumerator();

        Assert.True(await watch.MoveNextAsync());

        Assert.Empty(watch.Current.Events);
        Assert.Equal(_store.Revision, watch.Current.Revision);
    }

    private Task<LeaseGrant> Grant(long ttlSeconds) => _store.GrantLeaseAsync(ttlSeconds, CancellationToken.None);

    private Task<long> TimeToLive(LeaseGrant lease) => _store.TimeToLiveAsync(lease.LeaseId, CancellationToken.None);

    private static IAsyncEnumerator<WatchBatch> Watch(
        FakeRegistryStore store, string prefix, long startRevision, CancellationToken ct = default) =>
        AfterCreated(store.WatchAsync(prefix, startRevision, ct), ct).GetAsyncEnumerator(ct);

    /// <summary>The batches after the empty one that answers the watch's creation.</summary>
    private static async IAsyncEnumerable<WatchBatch> AfterCreated(
        IAsyncEnumerable<WatchBatch> watch, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken ct)
    {
        var created = false;
        await foreach (var batch in watch.WithCancellation(ct))
        {
            if (created) yield return batch;
            else Assert.Empty(batch.Events);
            created = true;
        }
    }

    // An async iterator starts on its first MoveNextAsync: a test that must have the watch open before it changes
    // anything takes that first step here and awaits it later with CurrentAsync.
    private static Task<bool> OpenAsync(IAsyncEnumerator<WatchBatch> watch) => watch.MoveNextAsync().AsTask();

    private static Task<WatchBatch> NextAsync(IAsyncEnumerator<WatchBatch> watch) => CurrentAsync(watch, OpenAsync(watch));

    private static async Task<WatchBatch> CurrentAsync(IAsyncEnumerator<WatchBatch> watch, Task<bool> step)
    {
        Assert.True(await step.WaitAsync(Timeout), "the watch ended");
        return watch.Current;
    }

    private static string Text(StoredValue? value) =>
        Encoding.UTF8.GetString(Assert.IsType<StoredValue>(value).Value);

    private static (long Create, long Mod) Revisions(StoredValue? value)
    {
        Assert.NotNull(value);
        return (value.CreateRevision, value.ModRevision);
    }
}
