using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Registry.Discovery;
using Registry.Etcd;
using Registry.Tests.Fakes;

namespace Registry.Tests.Discovery;

/// <summary>
/// WatcherActor's timers (silence check, back-off) on Akka's TestScheduler: time passes only when a test advances it.
/// The fake store here has no progress interval and no call timeout, its only wall-clock parts: a watch reports
/// progress only on <see cref="FakeRegistryStore.NotifyProgress"/>.
/// </summary>
public sealed class WatcherTimerTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config Config = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        akka.scheduler.implementation = "Akka.TestKit.TestScheduler, Akka.TestKit"
        registry {
          retry { min-backoff = 10ms, max-backoff = 50ms }
          discovery { progress-interval = 50ms, silence-timeout = 10s }
        }
        """);

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    // AwaitCondition polls every tenth of its limit unless told otherwise.
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly RegistrySettings _settings = RegistrySettings.From(Config);

    public WatcherTimerTests() : base(Config)
    {
    }

    private TestScheduler Clock => (TestScheduler)Sys.Scheduler;

    [Fact]
    public void An_idle_watch_kept_alive_by_progress_is_neither_reopened_nor_stale()
    {
        var silence = _settings.Discovery.SilenceTimeout;
        var watcher = ActorOfAsTestActorRef<WatcherActor>(WatcherActor.Props("user", _etcd, _settings), CreateTestProbe());
        watcher.Tell(new SubscribeMembership("user"), TestActor);
        ExpectMsg<MembershipSnapshot>(Wait);
        // The watch opens after the snapshot is sent, from a task of its own; its first response confirms it.
        AwaitCondition(() => watcher.UnderlyingActor.Batches == 1, Wait, Poll);

        // Three silence timeouts pass, a progress notification in every tenth of one.
        for (var round = 1; round <= 30; round++)
        {
            _etcd.NotifyProgress();
            AwaitCondition(() => watcher.UnderlyingActor.Batches == round + 1, Wait, Poll, $"progress notification {round} handled by the first watch");
            Clock.Advance(silence / 10);
        }

        Assert.Equal(1, _etcd.Calls(StoreOperation.Watch));
        Assert.Equal(1, _etcd.Calls(StoreOperation.List));
        // Not flagged stale: the watcher tells its subscribers on the thread that handles the message.
        ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public async Task A_watch_answered_behind_the_view_twice_in_a_row_flags_the_view_stale_and_backs_off()
    {
        var writer = _etcd.Connect();
        await writer.PutAsync(InstanceCodec.Key("/services/", "user", "10.0.0.1:80"),
            InstanceCodec.Encode(ServiceInstance.Create("user", "10.0.0.1:80")), 0, PutCondition.Always, default);
        // No jitter: the back-off is exactly min-backoff.
        var backoff = TimeSpan.FromSeconds(1);
        var settings = RegistrySettings.From(ConfigurationFactory.ParseString("registry.retry { min-backoff = 1s, max-backoff = 1s, random-factor = 0 }").WithFallback(Config));
        _etcd.WatchesBehind = true;
        var discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, settings));
        discovery.Tell(new SubscribeMembership("user"), TestActor);
        ExpectMsg<MembershipSnapshot>(Wait);

        // The first answer behind is listed again at once; the second flags the view and waits out the back-off.
        var stale = ExpectMsg<MembershipStale>(Wait);
        Assert.True(stale.Stale);
        Assert.Contains("behind the view's", stale.Reason);
        var late = CreateTestProbe();
        // The watcher answers a subscription after the message it was handling, so once it has, the back-off timer is
        // started, and a listing it fired is asked for.
        void Settled()
        {
            discovery.Tell(new SubscribeMembership("user"), late);
            late.ExpectMsg<MembershipSnapshot>(Wait);
        }
        Settled();
        Assert.Equal(2, _etcd.Calls(StoreOperation.List));

        Clock.Advance(backoff - TimeSpan.FromTicks(1));
        Settled();
        Assert.Equal(2, _etcd.Calls(StoreOperation.List));

        Clock.Advance(TimeSpan.FromTicks(1));
        Settled();
        Assert.Equal(3, _etcd.Calls(StoreOperation.List));
    }
}
