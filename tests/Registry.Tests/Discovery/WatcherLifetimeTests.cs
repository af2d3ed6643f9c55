using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Registry.Discovery;
using Registry.Etcd;
using Registry.Tests.Fakes;

namespace Registry.Tests.Discovery;

/// <summary>A service's watcher, and its watch on the store, lives exactly while the service has subscribers.</summary>
public sealed class WatcherLifetimeTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config Quiet = ConfigurationFactory.ParseString("akka.loglevel = WARNING");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly IActorRef _discovery;

    public WatcherLifetimeTests() : base(Quiet) =>
        _discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, RegistrySettings.From(Quiet)));

    private Task PutAsync(int n)
    {
        var instance = ServiceInstance.Create("user", $"10.0.0.{n}:80");
        return _etcd.Connect().PutAsync(InstanceCodec.Key("/services/", "user", instance.Id), InstanceCodec.Encode(instance), 0, PutCondition.Always, default);
    }

    private void Subscribe(TestKitBase subscriber)
    {
        _discovery.Tell(new SubscribeMembership("user"), subscriber.TestActor);
        subscriber.ExpectMsg<MembershipSnapshot>(Wait);
    }

    private IActorRef Watcher() => Sys.ActorSelection(_discovery.Path / "service-user").ResolveOne(Wait).Result;

    private void AwaitOpenWatches(int count) => AwaitAssert(() => Assert.Equal(count, _etcd.OpenWatches), Wait);

    [Fact]
    public async Task The_watch_closes_when_the_last_subscriber_leaves_and_opens_again_for_the_next()
    {
        var (first, second, next) = (CreateTestProbe(), CreateTestProbe(), CreateTestProbe());
        Subscribe(first);
        Subscribe(second);
        AwaitOpenWatches(1);
        var watcher = Watcher();
        Watch(watcher);

        _discovery.Tell(new UnsubscribeMembership("user"), first);
        await PutAsync(1);
        second.ExpectMsg<InstanceUp>(Wait);
        Assert.Equal(1, _etcd.OpenWatches);

        _discovery.Tell(new UnsubscribeMembership("user"), second);
        ExpectTerminated(watcher, Wait);
        AwaitOpenWatches(0);

        _discovery.Tell(new SubscribeMembership("user"), next);
        Assert.Single(next.ExpectMsg<MembershipSnapshot>(Wait).Instances);
        await PutAsync(2);
        next.ExpectMsg<InstanceUp>(Wait);
        AwaitOpenWatches(1);
    }

    [Fact]
    public void Every_watched_service_is_told_stopped_when_discovery_itself_stops()
    {
        // The registry closing stops discovery with its watchers: the health check must not keep them as live.
        Sys.EventStream.Subscribe(TestActor, typeof(WatcherStopped));
        Subscribe(CreateTestProbe());
        _discovery.Tell(new SubscribeMembership("orders"), CreateTestProbe());
        AwaitOpenWatches(2);

        Sys.Stop(_discovery);

        var stopped = new[] { ExpectMsg<WatcherStopped>(Wait).Service, ExpectMsg<WatcherStopped>(Wait).Service };
        Assert.Equal(["orders", "user"], stopped.Order().ToArray());
    }

    [Fact]
    public void A_subscriber_that_stops_ends_the_watch_too()
    {
        var subscriber = CreateTestProbe();
        Subscribe(subscriber);
        var watcher = Watcher();
        Watch(watcher);

        Sys.Stop(subscriber.Ref);

        ExpectTerminated(watcher, Wait);
        AwaitOpenWatches(0);
    }

    [Fact]
    public async Task Subscriptions_racing_the_watchers_stop_are_all_served()
    {
        Subscribe(this);
        for (var round = 0; round < 50; round++)
        {
            // Each unsubscription leaves the watcher idle, and the subscription right behind it meets the watcher
            // either before its stop (which must then not happen) or while it stops (and goes to its successor).
            _discovery.Tell(new UnsubscribeMembership("user"), TestActor);
            _discovery.Tell(new SubscribeMembership("user"), TestActor);
            ExpectMsg<MembershipSnapshot>(Wait);
        }
        // The watcher reported idle before it sent that snapshot, so its supervisor has heard it by the time this
        // subscription arrives.
        var witness = CreateTestProbe();
        Subscribe(witness);

        await PutAsync(1);

        ExpectMsg<InstanceUp>(Wait);
        witness.ExpectMsg<InstanceUp>(Wait);
        AwaitOpenWatches(1);
    }

    [Fact]
    public async Task An_idle_report_that_missed_a_subscription_stops_nothing()
    {
        Subscribe(this);
        var watcher = Watcher();
        Watch(watcher);
        var late = CreateTestProbe();
        Subscribe(late);

        // As when the first subscriber left just before the second subscription reached the watcher.
        _discovery.Tell(new Registry.Discovery.WatcherActor.Idle("user", Subscribes: 1), watcher);
        // Handled after the idle report: a watcher stopped by it would have ended by the time this is answered.
        Subscribe(CreateTestProbe());
        await PutAsync(1);

        ExpectMsg<InstanceUp>(Wait);
        late.ExpectMsg<InstanceUp>(Wait);
        Assert.Equal(1, _etcd.OpenWatches);
    }

    [Fact]
    public void An_unsubscription_while_the_watcher_restarts_still_ends_the_watch()
    {
        Subscribe(this);
        var watcher = Watcher();
        Watch(watcher);

        // Kill is queued ahead of the unsubscription, which reaches the restarted watcher before its subscribers do.
        watcher.Tell(Kill.Instance);
        _discovery.Tell(new UnsubscribeMembership("user"), TestActor);

        ExpectTerminated(watcher, Wait);
        AwaitOpenWatches(0);
    }

    [Fact]
    public void A_subscription_without_a_sender_is_ignored_with_a_warning()
    {
        EventFilter.Warning(contains: "sent without a sender").ExpectOne(() => _discovery.Tell(new SubscribeMembership("user"), ActorRefs.NoSender));

        Assert.Throws<AggregateException>(() => Watcher());
        Assert.Equal(0, _etcd.Calls(StoreOperation.List));
    }

    [Fact]
    public void Unsubscribing_from_a_service_never_watched_starts_no_watcher()
    {
        _discovery.Tell(new UnsubscribeMembership("user"), TestActor);
        _discovery.Tell(new SubscribeMembership("other"), TestActor);
        ExpectMsg<MembershipSnapshot>(Wait);

        Assert.Throws<AggregateException>(() => Watcher());
        Assert.Equal(1, _etcd.Calls(StoreOperation.List));
    }
}
