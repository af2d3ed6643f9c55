using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Registry.Health;

namespace Registry.Hosting;

/// <summary>Microsoft.Extensions health checks: <c>services.AddHealthChecks().AddServiceRegistry()</c>.</summary>
public static class ServiceRegistryHealthCheckExtensions
{
    /// <summary>
    /// Adds a health check of the registrations of the <see cref="ActorSystem"/> in the container (the one
    /// Akka.Hosting's <c>AddAkka</c> registers). It reads the state kept from the <see cref="RegistrationEvent"/>s,
    /// without a message round trip: <see cref="HealthStatus.Healthy"/> when every registration is held (or there is
    /// none); <see cref="HealthStatus.Degraded"/> while one waits for etcd, fails its renewals or replaces a lost lease;
    /// <paramref name="failureStatus"/> while one stopped for a conflict (a newer process took its id), until it is
    /// deregistered or registered again. The description names the keys and what is wrong; the data maps each key to
    /// its state (<c>held</c>, <c>delayed</c>, <c>renew-failing</c>, <c>lease-lost</c>, <c>conflict</c>).
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
            services => new RegistryHealthCheck(RegistrationHealth.Get(services.GetRequiredService<ActorSystem>())),
            failureStatus,
            tags));
    }
}
