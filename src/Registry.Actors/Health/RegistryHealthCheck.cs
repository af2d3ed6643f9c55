using System.Collections.Immutable;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Registry.Health;

/// <summary>
/// Reports the registrations of one actor system from <see cref="RegistrationHealth.Current"/>, without a message
/// round trip: healthy when every registration is held (or there is none), degraded while one waits for etcd, fails
/// its renewals or replaces a lost lease, and the registration's failure status (unhealthy by default) while one
/// stopped for a conflict, until it is deregistered or registered again. The description names the keys and what is
/// wrong; <see cref="HealthCheckResult.Data"/> maps every key to its state (<c>held</c>, <c>delayed</c>,
/// <c>renew-failing</c>, <c>lease-lost</c>, <c>conflict</c>).
/// </summary>
internal sealed class RegistryHealthCheck(RegistrationHealth health) : IHealthCheck
{
    /// <summary>Keys named per problem in the description; the rest are counted.</summary>
    private const int KeysNamed = 3;

    // Worst first: the description starts with what most needs attention.
    private static readonly (RegistrationState State, string Problem)[] Problems =
    [
        (RegistrationState.Conflict, "conflict, a newer process took the id"),
        (RegistrationState.LeaseLost, "lease lost, registering again"),
        (RegistrationState.RenewFailing, "renewals failing"),
        (RegistrationState.Delayed, "waiting for etcd to register"),
    ];

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken ct = default) =>
        Task.FromResult(Evaluate(health.Current, context.Registration?.FailureStatus ?? HealthStatus.Unhealthy));

    internal static HealthCheckResult Evaluate(RegistrationHealthSnapshot snapshot, HealthStatus failureStatus)
    {
        var registrations = snapshot.Registrations;
        var data = registrations.ToDictionary(r => r.Key, r => (object)Name(r.Value));
        var held = registrations.Count(r => r.Value == RegistrationState.Held);
        if (held == registrations.Count)
        {
            var description = held switch { 0 => "no registrations", 1 => "1 registration held", _ => $"{held} registrations held" };
            return HealthCheckResult.Healthy(description, data);
        }
        var problems = new List<string>();
        foreach (var (state, problem) in Problems)
        {
            var keys = registrations.Where(r => r.Value == state).Select(r => r.Key).ToList();
            if (keys.Count == 0) continue;
            var named = string.Join(", ", keys.Take(KeysNamed));
            problems.Add(keys.Count > KeysNamed ? $"{problem}: {named} and {keys.Count - KeysNamed} more" : $"{problem}: {named}");
        }
        if (held > 0) problems.Add($"{held} held");
        var status = registrations.Values.Contains(RegistrationState.Conflict) ? failureStatus : HealthStatus.Degraded;
        return new HealthCheckResult(status, string.Join("; ", problems), data: data);
    }

    private static string Name(RegistrationState state) => state switch
    {
        RegistrationState.Held => "held",
        RegistrationState.Delayed => "delayed",
        RegistrationState.RenewFailing => "renew-failing",
        RegistrationState.LeaseLost => "lease-lost",
        RegistrationState.Conflict => "conflict",
        _ => state.ToString(),
    };
}
