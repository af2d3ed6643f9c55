using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Registry.Health;

/// <summary>
/// Reports the registrations and the discovery of one actor system from <see cref="RegistryHealth"/>, without a message
/// round trip: healthy when every registration is held (or there is none) and every watched service's view is live (or
/// none is watched); degraded while a registration waits for etcd, fails its renewals, replaces a lost lease or waits
/// for its crashed actor's restart, or a watched service's view is stale (calls still go to its last known members);
/// the registration's failure status (unhealthy by default) while a registration stopped for a conflict, until it is
/// deregistered or registered again. The description names the keys and services and what is wrong;
/// <see cref="HealthCheckResult.Data"/> maps every key to its state (<c>held</c>, <c>delayed</c>, <c>renew-failing</c>,
/// <c>lease-lost</c>, <c>restarting</c>, <c>conflict</c>) and every watched service, as <c>discovery:</c> and its name,
/// to <c>live</c> or <c>stale</c>.
/// </summary>
internal sealed class RegistryHealthCheck(RegistryHealth health) : IHealthCheck
{
    /// <summary>Keys or services named per problem in the description; the rest are counted.</summary>
    private const int KeysNamed = 3;

    /// <summary>Prefixes a watched service's name in the data; no etcd key (a registration's) starts with it.</summary>
    private const string DiscoveryDataPrefix = "discovery:";

    // Worst first: the description starts with what most needs attention.
    private static readonly (RegistrationState State, string Problem)[] Problems =
    [
        (RegistrationState.Conflict, "conflict, a newer process took the id"),
        (RegistrationState.LeaseLost, "lease lost, registering again"),
        (RegistrationState.Restarting, "crashed, restarting"),
        (RegistrationState.RenewFailing, "renewals failing"),
        (RegistrationState.Delayed, "waiting for etcd to register"),
    ];

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        Task.FromResult(Evaluate(health.Registrations, context.Registration?.FailureStatus ?? HealthStatus.Unhealthy, health.Discovery));

    /// <summary>
    /// The result for <paramref name="snapshot"/>'s registrations and <paramref name="discovery"/>'s watched services
    /// (null: none watched). Problems come first, worst first, then what is fine is counted.
    /// </summary>
    internal static HealthCheckResult Evaluate(RegistrationHealthSnapshot snapshot, HealthStatus failureStatus, DiscoveryHealthSnapshot? discovery = null)
    {
        var registrations = snapshot.Registrations;
        var views = (discovery ?? DiscoveryHealthSnapshot.Empty).Services;
        var data = registrations.ToDictionary(r => r.Key, r => (object)Name(r.Value));
        foreach (var (service, view) in views) data[DiscoveryDataPrefix + service] = view.Stale ? "stale" : "live";

        var problems = new List<string>();
        foreach (var (state, problem) in Problems)
        {
            var keys = registrations.Where(r => r.Value == state).Select(r => r.Key).ToList();
            if (keys.Count > 0) problems.Add($"{problem}: {Named(keys)}");
        }
        // One line per reason: etcd lost usually makes every view stale for the same one.
        foreach (var group in views.Where(v => v.Value.Stale).GroupBy(v => v.Value.Reason))
            problems.Add($"{(group.Key is null ? "stale view" : $"stale view ({group.Key})")}: {Named(group.Select(v => v.Key).ToList())}");

        var counts = new List<string>();
        var held = registrations.Count(r => r.Value == RegistrationState.Held);
        if (held < registrations.Count)
        {
            if (held > 0) counts.Add($"{held} held");
        }
        else if (held > 0 || views.Count == 0)
        {
            counts.Add(held switch { 0 => "no registrations", 1 => "1 registration held", _ => $"{held} registrations held" });
        }
        var live = views.Count(v => !v.Value.Stale);
        if (live > 0) counts.Add(live == 1 ? "1 watched service live" : $"{live} watched services live");

        var status = registrations.Values.Contains(RegistrationState.Conflict) ? failureStatus
            : problems.Count > 0 ? HealthStatus.Degraded
            : HealthStatus.Healthy;
        return new HealthCheckResult(status, string.Join("; ", problems.Concat(counts)), data: data);
    }

    /// <summary>The first few of <paramref name="names"/>, then how many more.</summary>
    private static string Named(IReadOnlyList<string> names)
    {
        var named = string.Join(", ", names.Take(KeysNamed));
        return names.Count > KeysNamed ? $"{named} and {names.Count - KeysNamed} more" : named;
    }

    private static string Name(RegistrationState state) => state switch
    {
        RegistrationState.Held => "held",
        RegistrationState.Delayed => "delayed",
        RegistrationState.RenewFailing => "renew-failing",
        RegistrationState.LeaseLost => "lease-lost",
        RegistrationState.Conflict => "conflict",
        RegistrationState.Restarting => "restarting",
        _ => state.ToString(),
    };
}
