using Akka.Actor;
using Akka.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Registry.Discovery;
using Registry.Health;
using Registry.Hosting;
using Registry.Tests.Fakes;

namespace Registry.Tests.Health;

/// <summary>
/// The discovery part of the health state: the tracker driven by events on the EventStream, and the check through
/// <c>AddHealthChecks().AddServiceRegistry()</c> while a watcher against the fake store loses etcd and gets it back.
/// </summary>
public sealed class DiscoveryHealthTrackerTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config Fast = ConfigurationFactory.ParseString("""
        akka.loglevel = WARNING
        registry {
          retry { min-backoff = 10ms, max-backoff = 50ms }
          discovery { progress-interval = 50ms, silence-timeout = 10s }
        }
        """);

    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly RegistrySettings _settings = RegistrySettings.From(Fast);
    private readonly ServiceProvider _services;
    private readonly HealthCheckService _health;

    public DiscoveryHealthTrackerTests() : base(Fast)
    {
        _etcd.ProgressInterval = _settings.Discovery.ProgressInterval;
        _services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(Sys)
            .AddHealthChecks().AddServiceRegistry().Services
            .BuildServiceProvider();
        _health = _services.GetRequiredService<HealthCheckService>();
        // As ServiceRegistry does before it starts its discovery actor: the tracker hears every watcher's events.
        RegistryHealth.Get(Sys);
    }

    protected override void AfterAll()
    {
        _services.Dispose();
        base.AfterAll();
    }

    private static DiscoveryHealthSnapshot Current(ActorSystem system) => RegistryHealth.Get(system).Discovery;

    private async Task<HealthReportEntry> AwaitHealthAsync(HealthStatus status, string description)
    {
        HealthReportEntry entry = default;
        await AwaitAssertAsync(async () =>
        {
            entry = (await _health.CheckHealthAsync()).Entries["registry"];
            Assert.Equal((status, description), (entry.Status, entry.Description));
        }, Wait);
        return entry;
    }

    [Fact]
    public void The_tracker_follows_the_views_published_on_the_event_stream()
    {
        Sys.EventStream.Publish(new MembershipSnapshot("user", [], 3, false));
        Sys.EventStream.Publish(new MembershipStale("orders", true, "listing failed: etcd Unavailable", 0));
        AwaitAssert(() => Assert.Equal(
            [("orders", new ViewState(true, "listing failed: etcd Unavailable")), ("user", ViewState.Live)],
            Current(Sys).Services.Select(s => (s.Key, s.Value))), Wait);

        Sys.EventStream.Publish(new MembershipStale("user", true, "watch broke: etcd Unavailable", 3));
        Sys.EventStream.Publish(new MembershipStale("orders", false, null, 4));
        AwaitAssert(() => Assert.Equal(
            [("orders", ViewState.Live), ("user", new ViewState(true, "watch broke: etcd Unavailable"))],
            Current(Sys).Services.Select(s => (s.Key, s.Value))), Wait);

        Sys.EventStream.Publish(new WatcherStopped("user"));
        AwaitAssert(() => Assert.Equal(["orders"], Current(Sys).Services.Keys), Wait);
    }

    [Fact]
    public async Task A_watcher_that_loses_etcd_degrades_the_check_until_its_view_is_live_and_is_forgotten_once_unwatched()
    {
        var discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, _settings));
        var subscriber = CreateTestProbe();
        discovery.Tell(new SubscribeMembership("user"), subscriber.Ref);
        subscriber.ExpectMsg<MembershipSnapshot>(Wait);
        Assert.Equal("live", (await AwaitHealthAsync(HealthStatus.Healthy, "1 watched service live")).Data["discovery:user"]);

        _etcd.MakeUnavailable();
        var reason = subscriber.FishForMessage<MembershipStale>(s => s.Stale, Wait).Reason;
        var stale = await AwaitHealthAsync(HealthStatus.Degraded, $"stale view ({reason}): user");
        Assert.Contains(FakeRegistryStore.UnavailableMessage, stale.Description);
        Assert.Equal("stale", stale.Data["discovery:user"]);

        _etcd.Heal();
        await AwaitHealthAsync(HealthStatus.Healthy, "1 watched service live");

        discovery.Tell(new UnsubscribeMembership("user"), subscriber.Ref);
        Assert.Empty((await AwaitHealthAsync(HealthStatus.Healthy, "no registrations")).Data);
    }

    [Fact]
    public async Task A_watcher_restarted_while_stale_makes_the_view_live_with_its_first_listing()
    {
        var discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, _settings));
        var subscriber = CreateTestProbe();
        discovery.Tell(new SubscribeMembership("user"), subscriber.Ref);
        subscriber.ExpectMsg<MembershipSnapshot>(Wait);
        _etcd.MakeUnavailable();
        var reason = subscriber.FishForMessage<MembershipStale>(s => s.Stale, Wait).Reason;
        await AwaitHealthAsync(HealthStatus.Degraded, $"stale view ({reason}): user");

        // Restarted, the watcher says it is live again only with the snapshot of its first listing.
        var watcher = await Sys.ActorSelection(discovery.Path / "service-user").ResolveOne(Wait);
        watcher.Tell(Kill.Instance);
        _etcd.Heal();

        subscriber.FishForMessage<MembershipSnapshot>(s => !s.Stale, Wait);
        await AwaitHealthAsync(HealthStatus.Healthy, "1 watched service live");
    }

    [Fact]
    public async Task A_watcher_stopped_while_stale_is_forgotten()
    {
        var discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, _settings));
        _etcd.MakeUnavailable();
        var subscriber = CreateTestProbe();
        discovery.Tell(new SubscribeMembership("user"), subscriber.Ref);
        subscriber.ExpectMsg<MembershipStale>(Wait);
        AwaitAssert(() => Assert.True(Current(Sys).Services["user"].Stale), Wait);

        Sys.Stop(subscriber.Ref);

        await AwaitHealthAsync(HealthStatus.Healthy, "no registrations");
    }
}
