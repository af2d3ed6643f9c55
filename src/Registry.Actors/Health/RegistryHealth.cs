using Akka.Actor;
using Registry.Discovery;

namespace Registry.Health;

/// <summary>
/// The health state of one actor system's registry: a <see cref="RegistrationHealthTracker"/> and a
/// <see cref="DiscoveryHealthTracker"/>, subscribed to the EventStream when this extension is created, and the last
/// snapshot each published. <see cref="ServiceRegistry"/> creates it before its supervisors, so no event of a
/// registration or a watcher is missed; the health check gets the same one, whichever comes first.
/// </summary>
internal sealed class RegistryHealth : IExtension
{
    private volatile RegistrationHealthSnapshot _registrations = RegistrationHealthSnapshot.Empty;
    private volatile DiscoveryHealthSnapshot _discovery = DiscoveryHealthSnapshot.Empty;

    private RegistryHealth(ExtendedActorSystem system)
    {
        // Subscribed here rather than in the actors' PreStart, which runs later: an event published meanwhile would be lost.
        var registrations = system.SystemActorOf(RegistrationHealthTracker.Props(s => _registrations = s), "registration-health");
        system.EventStream.Subscribe(registrations, typeof(RegistrationEvent));
        var discovery = system.SystemActorOf(DiscoveryHealthTracker.Props(s => _discovery = s), "discovery-health");
        foreach (var type in new[] { typeof(MembershipStale), typeof(MembershipSnapshot), typeof(WatcherStopped) })
            system.EventStream.Subscribe(discovery, type);
    }

    /// <summary>The state of every registration, as of the last event its tracker handled.</summary>
    public RegistrationHealthSnapshot Registrations => _registrations;

    /// <summary>The view of every watched service, as of the last event its tracker handled.</summary>
    public DiscoveryHealthSnapshot Discovery => _discovery;

    public static RegistryHealth Get(ActorSystem system) => system.WithExtension<RegistryHealth, Provider>();

    private sealed class Provider : ExtensionIdProvider<RegistryHealth>
    {
        public override RegistryHealth CreateExtension(ExtendedActorSystem system) => new(system);
    }
}
