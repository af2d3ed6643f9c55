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
    /// Calling it again changes the same options: what the later call sets wins.
    /// </summary>
    /// <exception cref="ConfigurationException">An option is not valid; the message names it and its HOCON key.</exception>
    public static AkkaConfigurationBuilder AddServiceRegistry(this AkkaConfigurationBuilder builder, Action<ServiceRegistryOptions>? configure = null)
    {
        // A second call configures the same options, as a second Configure<TOptions> would: what it sets wins, what
        // it leaves alone stays as set before; the registry and its actors are added once.
        var setup = builder.Setups.OfType<ServiceRegistrySetup>().SingleOrDefault();
        var options = setup?.Options ?? new ServiceRegistryOptions();
        configure?.Invoke(options);
        options.Validate();
        if (setup is not null) return builder;
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
