using Akka.Actor;

namespace Registry.Health;

/// <summary>
/// The registration health of one actor system: a <see cref="RegistrationHealthTracker"/>, subscribed when this
/// extension is created, and the last snapshot it published. <see cref="ServiceRegistry"/> creates it before its
/// supervisor, so no event of a registration is missed; the health check gets the same one, whichever comes first.
/// </summary>
internal sealed class RegistrationHealth : IExtension
{
    private volatile RegistrationHealthSnapshot _current = RegistrationHealthSnapshot.Empty;

    private RegistrationHealth(ExtendedActorSystem system)
    {
        var tracker = system.SystemActorOf(RegistrationHealthTracker.Props(s => _current = s), "registration-health");
        // Here rather than in the actor's PreStart, which runs later: an event published meanwhile would be lost.
        system.EventStream.Subscribe(tracker, typeof(RegistrationEvent));
    }

    /// <summary>The state of every registration, as of the last event the tracker handled.</summary>
    public RegistrationHealthSnapshot Current => _current;

    public static RegistrationHealth Get(ActorSystem system) => system.WithExtension<RegistrationHealth, Provider>();

    private sealed class Provider : ExtensionIdProvider<RegistrationHealth>
    {
        public override RegistrationHealth CreateExtension(ExtendedActorSystem system) => new(system);
    }
}
