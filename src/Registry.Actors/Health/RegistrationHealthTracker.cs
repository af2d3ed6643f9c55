using Akka.Actor;

namespace Registry.Health;

/// <summary>
/// Subscribed to <see cref="RegistrationEvent"/>s on the EventStream (by <see cref="RegistryHealth"/>, before any
/// registration can start): keeps the state of every registration and hands each new snapshot to the publish
/// callback. The only writer of the snapshot, so readers see every change in order.
/// </summary>
internal sealed class RegistrationHealthTracker : ReceiveActor
{
    private RegistrationHealthSnapshot _snapshot = RegistrationHealthSnapshot.Empty;

    public RegistrationHealthTracker(Action<RegistrationHealthSnapshot> publish)
    {
        Receive<RegistrationEvent>(e =>
        {
            var next = _snapshot.Apply(e);
            if (ReferenceEquals(next, _snapshot)) return;
            _snapshot = next;
            publish(next);
        });
    }

    public static Props Props(Action<RegistrationHealthSnapshot> publish) =>
        Akka.Actor.Props.CreateBy(new FactoryProducer<RegistrationHealthTracker>(() => new RegistrationHealthTracker(publish)));
}
