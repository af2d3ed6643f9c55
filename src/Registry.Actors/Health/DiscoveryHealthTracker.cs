using Akka.Actor;
using Registry.Discovery;

namespace Registry.Health;

/// <summary>
/// Subscribed to <see cref="MembershipStale"/>, <see cref="MembershipSnapshot"/> and <see cref="WatcherStopped"/> on
/// the EventStream (by <see cref="RegistryHealth"/>, before any watcher can start): keeps whether each watched
/// service's view is live or stale and hands each new snapshot to the publish callback. The only writer of the
/// snapshot, so readers see every change in order.
/// </summary>
internal sealed class DiscoveryHealthTracker : ReceiveActor
{
    private DiscoveryHealthSnapshot _snapshot = DiscoveryHealthSnapshot.Empty;

    public DiscoveryHealthTracker(Action<DiscoveryHealthSnapshot> publish)
    {
        void Update(DiscoveryHealthSnapshot next)
        {
            if (ReferenceEquals(next, _snapshot)) return;
            _snapshot = next;
            publish(next);
        }

        Receive<MembershipEvent>(e => Update(_snapshot.Apply(e)));
        Receive<WatcherStopped>(e => Update(_snapshot.Apply(e)));
    }

    public static Props Props(Action<DiscoveryHealthSnapshot> publish) =>
        Akka.Actor.Props.CreateBy(new FactoryProducer<DiscoveryHealthTracker>(() => new DiscoveryHealthTracker(publish)));
}
