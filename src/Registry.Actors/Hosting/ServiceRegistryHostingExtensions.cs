using Akka.Actor;
using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.Hosting;

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
        // it leaves alone stays as set before; the registry and its actors are added once. It configures a copy, so a
        // call refused as invalid leaves the options as they were.
        var setup = builder.Setups.OfType<ServiceRegistrySetup>().SingleOrDefault();
        var options = setup?.Options.Clone() ?? new ServiceRegistryOptions();
        configure?.Invoke(options);
        options.Validate();
        if (setup is not null)
        {
            setup.Options = options;
            return builder;
        }
        return builder
            .AddSetup(new ServiceRegistrySetup(options))
            .WithActors((system, registry, resolver) =>
            {
                var extension = ServiceRegistry.Get(system);
                registry.Register<RegistrySupervisor>(extension.Supervisor);
                registry.Register<DiscoverySupervisor>(extension.Discovery);
                if (resolver.GetService<IHostApplicationLifetime>() is { } lifetime) DeregisterWhenTheHostBeginsToStop(system, extension, lifetime);
            });
    }

    /// <summary>
    /// A host stops its hosted services in the reverse order of their registration, so a web application's Kestrel
    /// (added last) stops listening and drains its requests before Akka's hosted service runs CoordinatedShutdown:
    /// deregistering there would leave the instance listed, refusing connections, for the whole drain. Before it stops
    /// any hosted service, the host runs the callbacks of <see cref="IHostApplicationLifetime.ApplicationStopping"/> and
    /// waits for them (a stop asked meanwhile, as by a signal, waits on the same lock), so the instances are
    /// deregistered there, each revoke bounded by <c>registry.deregister-timeout</c> and the whole by the
    /// <c>before-service-unbind</c> phase's timeout; CoordinatedShutdown's task then finds none.
    /// The extension cannot add a hosted service of its own: Akka.Hosting runs it once the services are built.
    /// </summary>
    private static void DeregisterWhenTheHostBeginsToStop(ActorSystem system, ServiceRegistry registry, IHostApplicationLifetime lifetime) =>
        lifetime.ApplicationStopping.Register(() =>
        {
            // The actor system stopping by itself stops the host too: CoordinatedShutdown deregisters (or did) then.
            if (CoordinatedShutdown.Get(system).ShutdownReason is not null || system.WhenTerminated.IsCompleted) return;
            // The callback must not return before the instances are gone: the host's stop goes on when it returns. On
            // the thread pool, so a caller's single-threaded synchronization context (a UI thread) is not needed.
            Task.Run(registry.DeregisterAllAsync).GetAwaiter().GetResult();
        });
}
