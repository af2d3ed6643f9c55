using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Akka.Actor;
using Akka.Configuration;
using Registry.Discovery;
using Registry.Etcd;
using Registry.Tests.Fakes;

namespace Registry.Tests.Discovery;

/// <summary>WatcherActor against the fake store: exact events across breaks, compaction, restarts and garbage.</summary>
public sealed class WatcherSimulationTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config Fast = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        registry {
          retry { min-backoff = 10ms, max-backoff = 50ms }
          # Only the tests of silence shorten the silence timeout: a stall under load must not pass for one elsewhere.
          discovery { progress-interval = 50ms, silence-timeout = 10s }
        }
        """);

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly FakeRegistryStore _writer;
    private readonly RegistrySettings _settings = RegistrySettings.From(Fast);
    private readonly IActorRef _discovery;

    public WatcherSimulationTests() : base(Fast)
    {
        // The watches' progress requests answered as etcd does, so only a hung or broken stream goes silent.
        _etcd.ProgressInterval = _settings.Discovery.ProgressInterval;
        _etcd.CallTimeout = _settings.CallTimeout;
        _writer = _etcd.Connect();
        _discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, _settings));
    }

    private static ServiceInstance User(int n, int weight = 1) =>
        ServiceInstance.Create("user", $"10.0.0.{n}:80") with { Weight = weight, RegisteredAt = DateTimeOffset.UnixEpoch };

    private async Task<long> PutAsync(ServiceInstance instance) =>
        (await _writer.PutAsync(InstanceCodec.Key("/services/", instance.Service, instance.Id), InstanceCodec.Encode(instance), 0, PutCondition.Always, default)).Revision;

    private Task DeleteAsync(ServiceInstance instance) => _writer.DeleteAsync(InstanceCodec.Key("/services/", instance.Service, instance.Id), default);

    private MembershipSnapshot Subscribe(string service = "user", IActorRef? discovery = null)
    {
        (discovery ?? _discovery).Tell(new SubscribeMembership(service), TestActor);
        return ExpectMsg<MembershipSnapshot>(Wait);
    }

    private async Task<ImmutableSortedDictionary<string, ServiceInstance>> EtcdViewAsync(string prefix = "/services/user/")
    {
        var listing = await _writer.ListAsync(prefix, default);
        return listing.Values
            .Select(v => { try { return InstanceCodec.Decode(v.Value); } catch (FormatException) { return null; } })
            .OfType<ServiceInstance>()
            .ToImmutableSortedDictionary(MembershipView.KeyOf, i => i, StringComparer.Ordinal);
    }

    [Fact]
    public async Task A_subscriber_gets_the_current_snapshot_first_then_every_change_in_order()
    {
        await PutAsync(User(1));
        await PutAsync(User(2));
        await PutAsync(ServiceInstance.Create("other", "10.9.9.9:1"));

        var snapshot = Subscribe();
        Assert.Equal(["10.0.0.1:80", "10.0.0.2:80"], snapshot.Instances.Select(i => i.Id));
        Assert.Equal(_etcd.Revision, snapshot.Revision);
        Assert.False(snapshot.Stale);

        var upAt = await PutAsync(User(3));
        Assert.Equal(new InstanceUp("user", User(3), upAt), ExpectMsg<InstanceUp>(Wait));
        var changedAt = await PutAsync(User(1, weight: 5));
        var updated = ExpectMsg<InstanceUpdated>(Wait);
        Assert.Equal((User(1), User(1, 5), changedAt), (updated.Previous, updated.Instance, updated.Revision));
        await DeleteAsync(User(2));
        Assert.Equal(User(2), ExpectMsg<InstanceDown>(Wait).Instance);
    }

    [Fact]
    public async Task Rewriting_the_same_value_is_not_an_update()
    {
        await PutAsync(User(1));
        Subscribe();

        await PutAsync(User(1));
        var upAt = await PutAsync(User(2));

        Assert.Equal(upAt, ExpectMsg<InstanceUp>(Wait).Revision);
    }

    [Fact]
    public async Task Changes_made_while_the_watch_was_broken_arrive_once_each_after_the_heal()
    {
        await PutAsync(User(1));
        await PutAsync(User(2));
        var view = new MembershipView();
        view.Apply(Subscribe());

        _etcd.MakeUnavailable();
        Assert.True(ExpectMsg<MembershipStale>(Wait).Stale);
        await PutAsync(User(3));
        await DeleteAsync(User(1));
        await PutAsync(User(2, weight: 9));
        _etcd.Heal();
        var expected = await EtcdViewAsync();

        var changes = new List<MembershipEvent>();
        while (view.Stale || !view.ToSorted().SequenceEqual(expected))
        {
            var e = ExpectMsg<MembershipEvent>(Wait);
            view.Apply(e);
            if (e is not MembershipStale) changes.Add(e);
        }
        Assert.Equal(1, view.Snapshots);
        // One event per change, the new and changed instances before the one gone.
        Assert.Collection(changes,
            e => Assert.Equal(User(2, weight: 9), Assert.IsType<InstanceUpdated>(e).Instance),
            e => Assert.Equal(User(3), Assert.IsType<InstanceUp>(e).Instance),
            e => Assert.Equal(User(1), Assert.IsType<InstanceDown>(e).Instance));
    }

    [Fact]
    public async Task While_etcd_is_unreachable_the_last_membership_is_kept_and_flagged_stale()
    {
        await PutAsync(User(1));
        Subscribe();
        var late = CreateTestProbe();

        _etcd.MakeUnavailable();
        var stale = ExpectMsg<MembershipStale>(Wait);
        Assert.True(stale.Stale);
        Assert.Contains(FakeRegistryStore.UnavailableMessage, stale.Reason);
        _discovery.Tell(new SubscribeMembership("user"), late);
        var snapshot = late.ExpectMsg<MembershipSnapshot>(Wait);
        Assert.True(snapshot.Stale);
        Assert.Equal<ServiceInstance>([User(1)], snapshot.Instances);

        _etcd.Heal();
        Assert.False(ExpectMsg<MembershipStale>(Wait).Stale);
    }

    [Fact]
    public async Task A_subscriber_is_told_when_etcd_is_down_at_start_and_gets_its_snapshot_when_it_answers()
    {
        await PutAsync(User(1));
        _etcd.MakeUnavailable();

        _discovery.Tell(new SubscribeMembership("user"), TestActor);
        var stale = ExpectMsg<MembershipStale>(Wait);
        Assert.True(stale.Stale);
        Assert.Contains(FakeRegistryStore.UnavailableMessage, stale.Reason);
        _etcd.Heal();

        Assert.False(ExpectMsg<MembershipStale>(Wait).Stale);
        var snapshot = ExpectMsg<MembershipSnapshot>(Wait);
        Assert.False(snapshot.Stale);
        Assert.Equal<ServiceInstance>([User(1)], snapshot.Instances);
    }

    [Fact]
    public async Task After_compaction_the_watcher_relists_and_reports_exactly_the_difference()
    {
        await PutAsync(User(1));
        await PutAsync(User(2));
        await PutAsync(User(3));
        var view = new MembershipView();
        view.Apply(Subscribe());

        _etcd.MakeUnavailable();
        ExpectMsg<MembershipStale>(Wait);
        await DeleteAsync(User(1));
        await PutAsync(User(2, weight: 4));
        await PutAsync(User(4));
        await DeleteAsync(User(4));
        await PutAsync(User(5));
        _etcd.Compact(_etcd.Revision);
        _etcd.Heal();

        var events = new List<MembershipEvent>();
        while (events.Count < 3) events.Add(FishForMessage<MembershipEvent>(e => e is not MembershipStale, Wait));
        Assert.Equal(
            ["down 10.0.0.1:80", "up 10.0.0.5:80", "update 10.0.0.2:80"],
            events.Select(Describe).Order());
        Assert.DoesNotContain(events, e => e is MembershipSnapshot);
        foreach (var e in events) view.Apply(e);
        Assert.Equal(await EtcdViewAsync(), view.ToSorted());
    }

    [Fact]
    public async Task A_deletion_at_the_compact_revision_is_not_missed_on_an_etcd_that_drops_it()
    {
        _etcd.DropsDeletionAtCompactRevision = true;
        await PutAsync(User(1));
        await PutAsync(User(2));
        // The first watch opens only once User(1) was deleted after the listing and etcd compacted at that deletion.
        var compacted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watches = 0;
        _etcd.BeforeCall = op => op == StoreOperation.Watch && Interlocked.Increment(ref watches) == 1 ? compacted.Task : Task.CompletedTask;
        var view = new MembershipView();
        view.Apply(Subscribe());
        Assert.Equal(2, view.ToSorted().Count);

        await DeleteAsync(User(1));
        _etcd.Compact(_etcd.Revision);
        compacted.SetResult();

        var down = (InstanceDown)FishForMessage<MembershipEvent>(e => e is InstanceDown, Wait);
        Assert.Equal(User(1), down.Instance);
        view.Apply(down);
        Assert.Equal(await EtcdViewAsync(), view.ToSorted());
    }

    private static string Describe(MembershipEvent e) => e switch
    {
        InstanceUp up => $"up {up.Instance.Id}",
        InstanceDown down => $"down {down.Instance.Id}",
        InstanceUpdated updated => $"update {updated.Instance.Id}",
        _ => e.GetType().Name,
    };

    [Fact]
    public async Task After_etcd_lost_its_data_the_watcher_reports_the_difference_at_the_lower_revision_and_follows_it()
    {
        await PutAsync(User(1));
        await PutAsync(User(2));
        var view = new MembershipView { RevisionsMayGoBack = true };
        view.Apply(Subscribe());

        // The watch breaks (stale), or, opened just after the loss, is answered behind the view: either way a re-list.
        _etcd.LoseData();
        var revision = await PutAsync(User(3));
        var changes = new List<MembershipEvent>();
        while (changes.Count < 3)
        {
            var e = ExpectMsg<MembershipEvent>(Wait);
            view.Apply(e);
            if (e is not MembershipStale) changes.Add(e);
        }
        Assert.Equal(["down 10.0.0.1:80", "down 10.0.0.2:80", "up 10.0.0.3:80"], changes.Select(Describe).Order());
        Assert.All(changes, e => Assert.Equal(revision, e.Revision));

        await PutAsync(User(4));
        MembershipEvent next;
        do view.Apply(next = ExpectMsg<MembershipEvent>(Wait));
        while (next is not InstanceUp);
        Assert.False(view.Stale);
        Assert.Equal(await EtcdViewAsync(), view.ToSorted());
    }

    [Fact]
    public async Task After_etcd_came_back_without_its_data_past_the_views_revision_the_view_follows_etcd()
    {
        await PutAsync(User(1));
        await PutAsync(User(2));
        var view = new MembershipView { RevisionsMayGoBack = true };
        view.Apply(Subscribe());

        // Cut off while etcd comes back without its data and takes more writes than the view has seen: a watch resumed
        // from the view's revision would see only the last one.
        _etcd.MakeUnavailable();
        view.Apply(ExpectMsg<MembershipStale>(Wait));
        _etcd.LoseData();
        await PutAsync(User(3));
        await PutAsync(User(2, weight: 7));
        await PutAsync(User(4));
        _etcd.Heal();

        do view.Apply(ExpectMsg<MembershipEvent>(Wait));
        while (view.Stale);
        Assert.Equal(await EtcdViewAsync(), view.ToSorted());
    }

    [Fact]
    public async Task A_watch_refused_after_every_listing_leaves_the_view_stale_without_flipping()
    {
        await PutAsync(User(1));
        Subscribe();

        // After the heal every listing works and every watch is refused: the view stays stale, said once.
        _etcd.BeforeCall = op => op == StoreOperation.Watch
            ? Task.FromException(new StoreUnavailableException("watch refused (simulated)"))
            : Task.CompletedTask;
        _etcd.MakeUnavailable();
        Assert.True(ExpectMsg<MembershipStale>(Wait).Stale);
        _etcd.Heal();
        var healed = _etcd.Calls(StoreOperation.List);
        AwaitCondition(() => _etcd.Calls(StoreOperation.List) >= healed + 3, Wait);

        // Each listing after the heal worked, and its watch was refused, before the next listing was asked for: a flip
        // to live at any of them would be here by now (TestKit's actors take a message on the sender's thread).
        ExpectNoMsg(TimeSpan.Zero);
        _etcd.BeforeCall = null;
        Assert.False(FishForMessage<MembershipStale>(_ => true, Wait).Stale);
    }

    [Fact]
    public async Task After_etcd_lost_its_data_a_failed_re_list_is_retried_and_the_view_follows_etcd()
    {
        await PutAsync(User(1));
        await PutAsync(User(2));
        Subscribe();
        var lists = 0;
        _etcd.BeforeCall = op => op == StoreOperation.List && Interlocked.Increment(ref lists) == 1
            ? Task.FromException(new StoreUnavailableException("etcd unavailable (simulated, once)"))
            : Task.CompletedTask;

        _etcd.LoseData();
        await PutAsync(User(3));

        var up = FishForMessage<MembershipEvent>(e => e is InstanceUp, Wait);
        Assert.Equal(User(3), ((InstanceUp)up).Instance);
        FishForMessage<MembershipStale>(s => !s.Stale, Wait);
    }

    [Fact]
    public async Task A_previous_incarnations_listing_answered_late_does_not_roll_the_view_back()
    {
        await PutAsync(User(1));
        await PutAsync(User(2));
        var view = new MembershipView { RevisionsMayGoBack = true };
        view.Apply(Subscribe());
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var lists = 0;
        _etcd.AfterCall = op => op == StoreOperation.List && Interlocked.Increment(ref lists) == 1 ? held.Task : Task.CompletedTask;

        // The watch, answered behind the view, asks for a listing whose answer is held; then the watcher restarts.
        _etcd.LoseData();
        AwaitCondition(() => Volatile.Read(ref lists) == 1, Wait);
        await PutAsync(User(3));
        var watcher = await Sys.ActorSelection(_discovery.Path / "service-user").ResolveOne(Wait);
        watcher.Tell(Kill.Instance);
        var snapshot = FishForMessage<MembershipSnapshot>(_ => true, Wait);
        view.Apply(snapshot);
        Assert.Equal<ServiceInstance>([User(3)], snapshot.Instances);

        // The old listing (without User(3)) lands now; a later change must arrive with nothing undone before it.
        held.SetResult();
        await PutAsync(User(4));
        var next = FishForMessage<MembershipEvent>(e => e is not MembershipStale, Wait);
        Assert.Equal(User(4), Assert.IsType<InstanceUp>(next).Instance);
    }

    [Fact]
    public async Task A_value_warned_about_is_forgotten_once_replaced_by_an_instance_or_gone_unseen()
    {
        var watcher = ActorOfAsTestActorRef<WatcherActor>(WatcherActor.Props("user", _etcd, _settings), CreateTestProbe());
        watcher.Tell(new SubscribeMembership("user"), TestActor);
        ExpectMsg<MembershipSnapshot>(Wait);
        await _writer.PutAsync("/services/user/fixed", "not json"u8.ToArray(), 0, PutCondition.Always, default);
        await _writer.PutAsync("/services/user/gone", "not json"u8.ToArray(), 0, PutCondition.Always, default);
        AwaitAssert(() => Assert.Equal(2, watcher.UnderlyingActor.WarnedValues), Wait);

        await PutAsync(User(1) with { Id = "fixed" });
        ExpectMsg<InstanceUp>(Wait);
        Assert.Equal(1, watcher.UnderlyingActor.WarnedValues);

        // Deleted while the watch is down, its Delete compacted away: only the re-list can tell.
        _etcd.MakeUnavailable();
        FishForMessage<MembershipStale>(s => s.Stale, Wait);
        await _writer.DeleteAsync("/services/user/gone", default);
        await _writer.PutAsync("/other/key", [1], 0, PutCondition.Always, default);
        _etcd.Compact(_etcd.Revision);
        _etcd.Heal();
        FishForMessage<MembershipStale>(s => !s.Stale, Wait);

        Assert.Equal(0, watcher.UnderlyingActor.WarnedValues);
    }

    [Fact]
    public async Task Garbage_under_the_prefix_is_skipped_with_one_warning_and_never_stops_the_watch()
    {
        await PutAsync(User(1));
        await _writer.PutAsync("/services/user/junk", "not json"u8.ToArray(), 0, PutCondition.Always, default);

        Assert.Equal<ServiceInstance>([User(1)], Subscribe().Instances);
        // The key the value names is quoted with its backslash escaped, as every text from etcd is.
        var mismatched = User(7) with { Id = @"a\b" };
        await EventFilter.Warning(new Regex(@"^skipping /services/user/lies .*: the value names /services/user/a\\\\b$")).ExpectOneAsync(async () =>
            await _writer.PutAsync("/services/user/lies", InstanceCodec.Encode(mismatched), 0, PutCondition.Always, default));
        var upAt = await PutAsync(User(2));

        Assert.Equal(upAt, ExpectMsg<InstanceUp>(Wait).Revision);
    }

    [Fact]
    public async Task A_valid_instance_overwritten_with_garbage_goes_down()
    {
        await PutAsync(User(1));
        Subscribe();

        await _writer.PutAsync(InstanceCodec.Key("/services/", "user", User(1).Id), "{}"u8.ToArray(), 0, PutCondition.Always, default);

        Assert.Equal(User(1), ExpectMsg<InstanceDown>(Wait).Instance);
    }

    [Fact]
    public async Task Events_etcd_sends_again_change_nothing()
    {
        await PutAsync(User(1));
        Subscribe();
        var upAt = await PutAsync(User(2));
        ExpectMsg<InstanceUp>(Wait);
        await DeleteAsync(User(2));
        ExpectMsg<InstanceDown>(Wait);
        await PutAsync(User(1, weight: 3));
        ExpectMsg<InstanceUpdated>(Wait);

        // etcd 3.4.23 sends a held-back watcher the events since upAt again: User(2) did not come back, nor User(1)'s
        // weight of 1.
        _etcd.ResendFrom(upAt);
        var lastAt = await PutAsync(User(4));

        Assert.Equal(new InstanceUp("user", User(4), lastAt), ExpectMsg<InstanceUp>(Wait));
    }

    [Fact]
    public async Task A_silent_stream_is_replaced_by_a_listing_and_no_change_is_lost()
    {
        var settings = RegistrySettings.From(ConfigurationFactory.ParseString("registry.discovery.silence-timeout = 200ms").WithFallback(Fast));
        await PutAsync(User(1));
        Subscribe(discovery: Sys.ActorOf(DiscoverySupervisor.Props(_etcd, settings)));
        var lists = _etcd.Calls(StoreOperation.List);

        _etcd.Hang();
        await PutAsync(User(2));
        AwaitCondition(() => _etcd.Calls(StoreOperation.List) > lists, Wait);
        _etcd.Heal();

        Assert.Equal(User(2), FishForMessage<InstanceUp>(_ => true, Wait).Instance);
        var upAt = await PutAsync(User(3));
        // The next up is User(3)'s: User(2) was reported once.
        Assert.Equal(upAt, FishForMessage<InstanceUp>(_ => true, Wait).Revision);
    }

    [Fact]
    public async Task A_crashed_watcher_restarts_keeps_its_subscribers_and_sends_a_fresh_snapshot()
    {
        await PutAsync(User(1));
        Subscribe();
        var watcher = await Sys.ActorSelection(_discovery.Path / "service-user").ResolveOne(Wait);

        watcher.Tell(Kill.Instance);
        var upAt = await PutAsync(User(2));

        var snapshot = FishForMessage<MembershipSnapshot>(_ => true, Wait);
        Assert.Contains(User(1), snapshot.Instances);
        if (snapshot.Revision < upAt) Assert.Equal(upAt, ExpectMsg<InstanceUp>(Wait).Revision);
        else Assert.Contains(User(2), snapshot.Instances);
    }

    [Fact]
    public async Task A_watcher_killed_again_before_it_restored_its_subscribers_keeps_them()
    {
        await PutAsync(User(1));
        // The second failure's decision waits for the gate: the third Kill then lands between the first restart's
        // RestoreSubscribers and the second's.
        var failures = 0;
        using var deciding = new SemaphoreSlim(0);
        using var gate = new SemaphoreSlim(0);
        var strategy = new OneForOneStrategy(_ =>
        {
            if (Interlocked.Increment(ref failures) == 2)
            {
                deciding.Release();
                gate.Wait(Wait);
            }
            return Directive.Restart;
        });
        var watcher = ChildActorOf(WatcherActor.Props("user", _etcd, _settings), "watcher", strategy);
        var subscriber = CreateTestProbe();
        watcher.Tell(new SubscribeMembership("user"), subscriber);
        subscriber.ExpectMsg<MembershipSnapshot>(Wait);

        watcher.Tell(Kill.Instance);
        watcher.Tell(Kill.Instance);
        Assert.True(await deciding.WaitAsync(Wait));
        watcher.Tell(Kill.Instance);
        gate.Release();

        Assert.Contains(User(1), subscriber.FishForMessage<MembershipSnapshot>(_ => true, Wait).Instances);
        var upAt = await PutAsync(User(2));
        Assert.Equal(upAt, subscriber.FishForMessage<InstanceUp>(_ => true, Wait).Revision);
    }

    [Fact]
    public async Task A_watcher_restarted_while_etcd_is_down_reports_stale_at_the_subscribers_revision_then_a_snapshot()
    {
        await PutAsync(User(1));
        var view = new MembershipView();
        view.Apply(Subscribe());
        await PutAsync(User(2));
        view.Apply(ExpectMsg<InstanceUp>(Wait));
        _etcd.MakeUnavailable();
        view.Apply(FishForMessage<MembershipStale>(s => s.Stale, Wait));
        var watcher = await Sys.ActorSelection(_discovery.Path / "service-user").ResolveOne(Wait);

        watcher.Tell(Kill.Instance);
        // The new incarnation's listing fails too: its stale flag must not take the view back to revision 0.
        view.Apply(ExpectMsg<MembershipStale>(Wait));
        _etcd.Heal();

        view.Apply(FishForMessage<MembershipEvent>(e => e is MembershipSnapshot, Wait));
        Assert.False(view.Stale);
        Assert.Equal(await EtcdViewAsync(), view.ToSorted());
    }

    [Fact]
    public async Task Subscribing_again_gives_a_fresh_snapshot_and_no_event_twice()
    {
        await PutAsync(User(1));
        Subscribe();
        var again = Subscribe();
        Assert.Equal<ServiceInstance>([User(1)], again.Instances);

        await PutAsync(User(2));
        await PutAsync(User(3));
        Assert.Equal(User(2), ExpectMsg<InstanceUp>(Wait).Instance);
        Assert.Equal(User(3), ExpectMsg<InstanceUp>(Wait).Instance);
    }

    [Fact]
    public void A_subscriber_joining_before_the_first_listing_while_etcd_is_down_is_told_the_view_is_stale()
    {
        _etcd.MakeUnavailable();
        _discovery.Tell(new SubscribeMembership("user"), TestActor);
        FishForMessage<MembershipStale>(s => s.Stale, Wait);

        var late = CreateTestProbe();
        _discovery.Tell(new SubscribeMembership("user"), late);
        Assert.True(late.ExpectMsg<MembershipStale>(Wait).Stale);

        _etcd.Heal();
        late.FishForMessage<MembershipEvent>(e => e is MembershipSnapshot, Wait);
    }

    [Fact]
    public async Task Watching_every_service_reports_each_instance_with_its_service()
    {
        await PutAsync(User(1));
        await PutAsync(ServiceInstance.Create("orders", "10.1.1.1:80"));

        var snapshot = Subscribe(DiscoverySupervisor.AllServices);
        Assert.Equal(["orders", "user"], snapshot.Instances.Select(i => i.Service).Order());

        await PutAsync(ServiceInstance.Create("billing", "10.2.2.2:80"));
        Assert.Equal("billing", ExpectMsg<InstanceUp>(Wait).Service);
    }

    [Fact]
    public async Task The_event_stream_carries_each_change_once_when_a_service_is_also_watched_with_all_services()
    {
        var stream = CreateTestProbe();
        Sys.EventStream.Subscribe(stream, typeof(InstanceUp));
        Subscribe();
        Subscribe(DiscoverySupervisor.AllServices);

        var first = await PutAsync(User(1));
        var second = await PutAsync(User(2));

        Assert.Equal(first, stream.ExpectMsg<InstanceUp>(Wait).Revision);
        Assert.Equal(second, stream.ExpectMsg<InstanceUp>(Wait).Revision);
        // Both watchers have handled both changes once each has answered a later subscription: a copy either one
        // published would be here by then (the event stream delivers as it publishes, and TestKit's probes take a
        // message on the sender's thread).
        var late = CreateTestProbe();
        foreach (var service in new[] { "user", DiscoverySupervisor.AllServices })
        {
            _discovery.Tell(new SubscribeMembership(service), late);
            Assert.Equal(2, late.ExpectMsg<MembershipSnapshot>(Wait).Instances.Length);
        }
        stream.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_bad_service_name_is_refused_naming_it()
    {
        _discovery.Tell(new SubscribeMembership("bad name"), TestActor);

        Assert.Contains("service 'bad name'", ExpectMsg<Status.Failure>(Wait).Cause.Message);
    }

    [Fact]
    public async Task An_unsubscribed_actor_gets_nothing_more()
    {
        Subscribe();
        _discovery.Tell(new UnsubscribeMembership("user"), TestActor);
        var other = CreateTestProbe();
        _discovery.Tell(new SubscribeMembership("user"), other);
        other.ExpectMsg<MembershipSnapshot>(Wait);

        await PutAsync(User(1));

        other.ExpectMsg<InstanceUp>(Wait);
        // The watcher tells every subscriber in one step: had this one still been subscribed, its copy would be here
        // (TestKit's actors take a message on the sender's thread).
        ExpectNoMsg(TimeSpan.Zero);
    }
}
