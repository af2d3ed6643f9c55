using Microsoft.Extensions.Diagnostics.HealthChecks;
using Registry.Discovery;
using Registry.Health;

namespace Registry.Tests.Health;

/// <summary>What the health check says for the watched services' views, alone and with registrations, without actors.</summary>
public sealed class DiscoveryHealthResultTests
{
    private const string Broke = "watch broke: etcd Unavailable";

    private static RegistrationHealthSnapshot Registrations(params (string Key, RegistrationState State)[] registrations) =>
        new(registrations.Aggregate(RegistrationHealthSnapshot.Empty.Registrations, (all, r) => all.SetItem(r.Key, r.State)));

    private static DiscoveryHealthSnapshot Views(params MembershipEvent[] events) =>
        events.Aggregate(DiscoveryHealthSnapshot.Empty, (snapshot, e) => snapshot.Apply(e));

    private static MembershipSnapshot Listed(string service, bool stale = false) => new(service, [], 7, stale);

    private static MembershipStale Stale(string service, string? reason = Broke) => new(service, true, reason, 7);

    private static MembershipStale Live(string service) => new(service, false, null, 8);

    [Fact]
    public void A_stale_view_is_degraded_naming_the_service_and_the_reason()
    {
        var result = RegistryHealthCheck.Evaluate(Registrations(), HealthStatus.Unhealthy, Views(Listed("orders"), Listed("user"), Stale("user")));

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal($"stale view ({Broke}): user; 1 watched service live", result.Description);
        Assert.Equal("stale", result.Data["discovery:user"]);
        Assert.Equal("live", result.Data["discovery:orders"]);
    }

    [Fact]
    public void Live_views_are_healthy_and_counted()
    {
        var result = RegistryHealthCheck.Evaluate(Registrations(), HealthStatus.Unhealthy, Views(Listed("orders"), Listed("user"), Stale("user"), Live("user")));

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal("2 watched services live", result.Description);
        Assert.Equal(["live", "live"], result.Data.Values);
    }

    [Fact]
    public void Many_stale_views_are_grouped_by_reason_three_named_and_the_rest_counted()
    {
        var result = RegistryHealthCheck.Evaluate(Registrations(), HealthStatus.Unhealthy, Views(
            Stale("a"), Stale("b"), Stale("c"), Stale("d"), Stale("e"), Stale("f", "listing failed: etcd DeadlineExceeded")));

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal($"stale view ({Broke}): a, b, c and 2 more; stale view (listing failed: etcd DeadlineExceeded): f", result.Description);
        Assert.Equal(6, result.Data.Count);
    }

    [Fact]
    public void A_stale_view_after_registration_problems_keeps_a_conflict_unhealthy()
    {
        var result = RegistryHealthCheck.Evaluate(
            Registrations(("/s/a/1", RegistrationState.Conflict), ("/s/a/2", RegistrationState.Held)), HealthStatus.Unhealthy,
            Views(Stale("user"), Listed("orders")));

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Equal($"conflict, a newer process took the id: /s/a/1; stale view ({Broke}): user; 1 held; 1 watched service live", result.Description);
        Assert.Equal(["/s/a/1", "/s/a/2", "discovery:orders", "discovery:user"], result.Data.Keys.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_stale_view_degrades_held_registrations()
    {
        var result = RegistryHealthCheck.Evaluate(Registrations(("/s/a/1", RegistrationState.Held)), HealthStatus.Unhealthy, Views(Stale("user", reason: null)));

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal("stale view: user; 1 registration held", result.Description);
    }

    [Fact]
    public void Held_registrations_and_live_views_are_healthy()
    {
        var result = RegistryHealthCheck.Evaluate(Registrations(("/s/a/1", RegistrationState.Held)), HealthStatus.Unhealthy, Views(Listed("user")));

        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal("1 registration held; 1 watched service live", result.Description);
    }

    [Fact]
    public void A_fresh_snapshot_after_a_watcher_restart_makes_a_stale_view_live()
    {
        Assert.False(Views(Listed("user"), Stale("user"), Listed("user")).Services["user"].Stale);
    }

    [Fact]
    public void A_stale_snapshot_keeps_the_reason_known()
    {
        Assert.Equal(new ViewState(true, Broke), Views(Stale("user"), Listed("user", stale: true)).Services["user"]);
    }

    [Fact]
    public void A_stopped_watcher_is_forgotten_and_events_that_change_nothing_keep_the_snapshot()
    {
        var views = Views(Listed("user"), Stale("orders"));

        Assert.Same(views, views.Apply(Live("user")));
        Assert.Same(views, views.Apply(Stale("orders")));
        Assert.Same(views, views.Apply(new InstanceUp("user", ServiceInstance.Create("user", "10.0.0.1:80"), 9)));
        Assert.Equal(["user"], views.Apply(new WatcherStopped("orders")).Services.Keys);
        Assert.Same(views, views.Apply(new WatcherStopped("billing")));
    }
}
