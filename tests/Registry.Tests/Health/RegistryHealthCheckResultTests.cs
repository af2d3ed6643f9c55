using System.Collections.Immutable;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Registry.Health;

namespace Registry.Tests.Health;

/// <summary>What the health check says for a snapshot: status, description and data, without actors.</summary>
public sealed class RegistryHealthCheckResultTests
{
    private static RegistrationHealthSnapshot Snapshot(params (string Key, RegistrationState State)[] registrations) =>
        new(registrations.Aggregate(RegistrationHealthSnapshot.Empty.Registrations, (all, r) => all.SetItem(r.Key, r.State)));

    private static RegistrationEvent Event(RegistrationEventKind kind, string address = "10.0.0.1:80") =>
        new(kind, ServiceInstance.Create("user", address), $"/services/user/{address}", 1);

    [Fact]
    public void Problems_are_named_worst_first_with_the_held_count_last()
    {
        var result = RegistryHealthCheck.Evaluate(Snapshot(
            ("/s/a/1", RegistrationState.Delayed),
            ("/s/a/2", RegistrationState.RenewFailing),
            ("/s/a/3", RegistrationState.Held),
            ("/s/a/4", RegistrationState.Conflict),
            ("/s/a/5", RegistrationState.LeaseLost),
            ("/s/a/6", RegistrationState.Restarting)), HealthStatus.Unhealthy);

        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Equal(
            "conflict, a newer process took the id: /s/a/4; lease lost, registering again: /s/a/5; crashed, restarting: /s/a/6; renewals failing: /s/a/2; waiting for etcd to register: /s/a/1; 1 held",
            result.Description);
        Assert.Equal(["delayed", "renew-failing", "held", "conflict", "lease-lost", "restarting"], result.Data.OrderBy(d => d.Key).Select(d => d.Value));
    }

    [Fact]
    public void A_long_list_of_keys_names_three_and_counts_the_rest()
    {
        var result = RegistryHealthCheck.Evaluate(
            Snapshot([.. Enumerable.Range(1, 5).Select(i => ($"/s/a/{i}", RegistrationState.RenewFailing))]), HealthStatus.Unhealthy);

        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Equal("renewals failing: /s/a/1, /s/a/2, /s/a/3 and 2 more", result.Description);
        Assert.Equal(5, result.Data.Count);
    }

    [Theory]
    [InlineData(RegistrationEventKind.Registered, nameof(RegistrationState.Held))]
    [InlineData(RegistrationEventKind.Reregistered, nameof(RegistrationState.Held))]
    [InlineData(RegistrationEventKind.Recovered, nameof(RegistrationState.Held))]
    [InlineData(RegistrationEventKind.Delayed, nameof(RegistrationState.Delayed))]
    [InlineData(RegistrationEventKind.RenewFailed, nameof(RegistrationState.RenewFailing))]
    [InlineData(RegistrationEventKind.LeaseLost, nameof(RegistrationState.LeaseLost))]
    [InlineData(RegistrationEventKind.Conflict, nameof(RegistrationState.Conflict))]
    [InlineData(RegistrationEventKind.Restarting, nameof(RegistrationState.Restarting))]
    public void Each_event_sets_its_keys_state(RegistrationEventKind kind, string state)
    {
        var snapshot = RegistrationHealthSnapshot.Empty.Apply(Event(RegistrationEventKind.RenewFailed)).Apply(Event(kind));

        Assert.Equal(state, snapshot.Registrations["/services/user/10.0.0.1:80"].ToString());
    }

    [Fact]
    public void A_registration_whose_actor_crashed_before_its_first_event_shows_as_restarting()
    {
        var snapshot = RegistrationHealthSnapshot.Empty.Apply(Event(RegistrationEventKind.Restarting));

        Assert.Equal(RegistrationState.Restarting, snapshot.Registrations["/services/user/10.0.0.1:80"]);
    }

    [Fact]
    public void A_deregistered_key_is_forgotten_and_an_event_that_changes_nothing_keeps_the_snapshot()
    {
        var held = RegistrationHealthSnapshot.Empty.Apply(Event(RegistrationEventKind.Registered)).Apply(Event(RegistrationEventKind.Registered, "10.0.0.2:80"));

        Assert.Same(held, held.Apply(Event(RegistrationEventKind.Recovered)));
        Assert.Equal(["/services/user/10.0.0.2:80"], held.Apply(Event(RegistrationEventKind.Deregistered)).Registrations.Keys);
        Assert.Same(RegistrationHealthSnapshot.Empty, RegistrationHealthSnapshot.Empty.Apply(Event(RegistrationEventKind.Deregistered)));
    }
}
