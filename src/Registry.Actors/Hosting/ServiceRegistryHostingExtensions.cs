using Akka.Configuration;
using Akka.Hosting;

namespace Registry.Hosting;

/// <summary>Akka.Hosting integration: <c>builder.AddServiceRegistry(...)</c>.</summary>
public static class ServiceRegistryHostingExtensions
{
    /// <summary>
    /// Starts the registry with the actor system and registers the supervisors, so they can be injected as
    /// <c>IRequiredActor&lt;RegistrySupervisor&gt;</c> and <c>IRequiredActor&lt;DiscoverySupervisor&gt;</c>.
    /// The options set in <paramref name="configure"/> win over the <c>registry</c> HOCON section, whether that HOCON
    /// is added before or after this call; what they leave null comes from the HOCON, then from reference.conf.
    /// </summary>
    /// <exception cref="ConfigurationException">An option is not valid; the message names it and its HOCON key.</exception>
    public static AkkaConfigurationBuilder AddServiceRegistry(this AkkaConfigurationBuilder builder, Action<ServiceRegistryOptions>? configure = null)
    {
        var options = new ServiceRegistryOptions();
        configure?.Invoke(options);
        options.Validate();
        return builder
            .AddSetup(new ServiceRegistrySetup(options))
            .WithActors((system, registry) =>
            {
                var extension = ServiceRegistry.Get(system);
                registry.Register<RegistrySupervisor>(extension.Supervisor);
                registry.Register<DiscoverySupervisor>(extension.Discovery);
            });
    }
}
