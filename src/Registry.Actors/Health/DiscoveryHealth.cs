using Akka.Actor;
using Registry.Discovery;

namespace Registry.Health;

/// <summary>
/// The discovery health of one actor system: a <see cref="DiscoveryHealthTracker"/>, subscribed when this extension
/// is created, and the last snapshot it published. <see cref="ServiceRegistry"/> creates it before its discovery
/// actor, so no watcher's event is missed; the health check gets the same one, whichever comes first.
/// </summary>
internal sealed class DiscoveryHealth : IExtension
{
    private volatile DiscoveryHealthSnapshot _current = DiscoveryHealthSnapshot.Empty;

    private DiscoveryHealth(ExtendedActorSystem system)
    {
        var tracker = system.SystemActorOf(DiscoveryHealthTracker.Props(s => _current = s), "discovery-health");
        // Here rather than in the actor's PreStart, which runs later: an event published meanwhile would be lost.
        system.EventStream.Subscribe(tracker, typeof(MembershipStale));
        system.EventStream.Subscribe(tracker, typeof(MembershipSnapshot));
        system.EventStream.Subscribe(tracker, typeof(WatcherStopped));
    }

    /// <summary>The view of every watched service, as of the last event the tracker handled.</summary>
    public DiscoveryHealthSnapshot Current => _current;

    public static DiscoveryHealth Get(ActorSystem system) => system.WithExtension<DiscoveryHealth, Provider>();

    private sealed class Provider : ExtensionIdProvider<DiscoveryHealth>
    {
        public override DiscoveryHealth CreateExtension(ExtendedActorSystem system) => new(system);
    }
}
