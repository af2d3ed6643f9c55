using Akka.Configuration;
using Akka.Hosting;

namespace Registry.Hosting;

/// <summary>Akka.Hosting integration: <c>builder.AddServiceRegistry(...)</c>.</summary>
public static class ServiceRegistryHostingExtensions
{
    /// <summary>
    /// Starts the registry with the actor system: applies <paramref name="configure"/> over the <c>registry</c>
    /// HOCON section and registers the supervisors, so they can be injected as <c>IRequiredActor&lt;RegistrySupervisor&gt;</c>
    /// and <c>IRequiredActor&lt;DiscoverySupervisor&gt;</c>.
    /// </summary>
    /// <exception cref="ConfigurationException">An option is not valid; the message names it and its HOCON key.</exception>
    public static AkkaConfigurationBuilder AddServiceRegistry(this AkkaConfigurationBuilder builder, Action<ServiceRegistryOptions>? configure = null)
    {
        var options = new ServiceRegistryOptions();
        configure?.Invoke(options);
        options.Validate();
        return builder
            .AddHocon(ConfigurationFactory.ParseString(options.ToHocon()), HoconAddMode.Prepend)
            .AddHocon(RegistrySettings.Reference, HoconAddMode.Append)
            .WithActors((system, registry) =>
            {
                var extension = ServiceRegistry.Get(system);
                registry.Register<RegistrySupervisor>(extension.Supervisor);
                registry.Register<DiscoverySupervisor>(extension.Discovery);
            });
    }
}
