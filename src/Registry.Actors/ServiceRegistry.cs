using Akka;
using Akka.Actor;
using Akka.Event;
using Registry.Etcd;

namespace Registry;

/// <summary>
/// The registry of one actor system: its etcd client, its <see cref="RegistrySupervisor"/> and its
/// <see cref="DiscoverySupervisor"/>. Deregisters every
/// instance in CoordinatedShutdown's <c>before-service-unbind</c> phase, before the service stops listening.
/// </summary>
public sealed class ServiceRegistry : IExtension
{
    private readonly IRegistryStore _store;

    internal ServiceRegistry(ExtendedActorSystem system)
    {
        system.Settings.InjectTopLevelFallback(RegistrySettings.Reference);
        Settings = RegistrySettings.From(system.Settings.Config);
        _store = new EtcdStore(Settings);
        Supervisor = system.SystemActorOf(RegistrySupervisor.Props(_store, Settings), "registry");
        Discovery = system.SystemActorOf(DiscoverySupervisor.Props(_store, Settings), "discovery");
        var shutdown = CoordinatedShutdown.Get(system);
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "registry-deregister", async () =>
        {
            try
            {
                await Supervisor.Ask<RegistrySupervisor.AllDeregistered>(RegistrySupervisor.DeregisterAll.Instance, Settings.DeregisterTimeout);
            }
            catch (Exception e)
            {
                system.Log.Warning("not every instance was deregistered within {0}: {1}; their keys expire with their leases", Settings.DeregisterTimeout, e.Message);
            }
            return Done.Instance;
        });
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "registry-close-etcd", async () =>
        {
            await _store.DisposeAsync();
            return Done.Instance;
        });
    }

    /// <summary>The supervisor to send <see cref="Register"/> and <see cref="Deregister"/> to.</summary>
    public IActorRef Supervisor { get; }

    /// <summary>The discovery actor to send <see cref="SubscribeMembership"/> to.</summary>
    public IActorRef Discovery { get; }

    internal RegistrySettings Settings { get; }

    internal IRegistryStore Store => _store;

    /// <summary>The registry of <paramref name="system"/>, created on first use.</summary>
    public static ServiceRegistry Get(ActorSystem system) => system.WithExtension<ServiceRegistry, ServiceRegistryProvider>();
}

/// <summary>Creates the <see cref="ServiceRegistry"/> extension.</summary>
public sealed class ServiceRegistryProvider : ExtensionIdProvider<ServiceRegistry>
{
    /// <inheritdoc />
    public override ServiceRegistry CreateExtension(ExtendedActorSystem system) => new(system);
}
