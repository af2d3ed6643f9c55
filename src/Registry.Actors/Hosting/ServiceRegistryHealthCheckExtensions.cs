using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Registry.Health;

namespace Registry.Hosting;

/// <summary>Microsoft.Extensions health checks: <c>services.AddHealthChecks().AddServiceRegistry()</c>.</summary>
public static class ServiceRegistryHealthCheckExtensions
{
    /// <summary>
    /// Adds one health check of the registry of the <see cref="ActorSystem"/> in the container (the one Akka.Hosting's
    /// <c>AddAkka</c> registers): its registrations and its discovery, in one result, since both depend on the same
    /// etcd. It reads the state kept from the <see cref="RegistrationEvent"/>s and the watchers'
    /// <see cref="MembershipSnapshot"/> and <see cref="MembershipStale"/> events, without a message round trip:
    /// <see cref="HealthStatus.Healthy"/> when every registration is held and every watched service's view is live (or
    /// there is none); <see cref="HealthStatus.Degraded"/> while a registration waits for etcd, fails its renewals,
    /// replaces a lost lease or waits for its crashed actor's restart, or a watched service's view is stale (calls still
    /// go to its last known members);
    /// <paramref name="failureStatus"/> while a registration stopped for a conflict (a newer process took its id),
    /// until it is deregistered or registered again. The description names the keys and services and what is wrong; the
    /// data maps each key to its state (<c>held</c>, <c>delayed</c>, <c>renew-failing</c>, <c>lease-lost</c>,
    /// <c>restarting</c>, <c>conflict</c>) and each watched service, as <c>discovery:</c> and its name, to <c>live</c> or <c>stale</c> (a
    /// service no longer watched is left out; so is the all-services watch).
    /// </summary>
    /// <param name="builder">The health checks builder.</param>
    /// <param name="name">The check's name.</param>
    /// <param name="failureStatus">The status of a conflict; null for <see cref="HealthStatus.Unhealthy"/>.</param>
    /// <param name="tags">Tags to filter checks by (e.g. <c>ready</c>, <c>live</c>).</param>
    public static IHealthChecksBuilder AddServiceRegistry(this IHealthChecksBuilder builder, string name = "registry", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        return builder.Add(new HealthCheckRegistration(
            name,
            services => new RegistryHealthCheck(RegistryHealth.Get(services.GetRequiredService<ActorSystem>())),
            failureStatus,
            tags));
    }
}
