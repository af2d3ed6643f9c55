using Akka.Configuration;
using Akka.Hosting;

namespace Registry.Hosting;

/// <summary>Akka.Hosting integration: <c>builder.AddServiceRegistry(...)</c>.</summary>
public static class ServiceRegistryHostingExtensions
{
    /// <summary>
    /// Starts the registry with the actor system: applies <paramref name="configure"/> over the <c>registry</c>
    /// HOCON section and registers the supervisor, so it can be injected as <c>IRequiredActor&lt;RegistrySupervisor&gt;</c>.
    /// </summary>
    public static AkkaConfigurationBuilder AddServiceRegistry(this AkkaConfigurationBuilder builder, Action<ServiceRegistryOptions>? configure = null)
    {
        var options = new ServiceRegistryOptions();
        configure?.Invoke(options);
        return builder
            .AddHocon(ConfigurationFactory.ParseString(options.ToHocon()), HoconAddMode.Prepend)
            .AddHocon(RegistrySettings.Reference, HoconAddMode.Append)
            .WithActors((system, registry) => registry.Register<RegistrySupervisor>(ServiceRegistry.Get(system).Supervisor));
    }
}
