using Akka.Actor;

namespace Registry.Host.Demo;

/// <summary>Subscribed to a service's membership; hands every event to the tour, which prints it.</summary>
internal sealed class MembershipPrinter : ReceiveActor
{
    public MembershipPrinter(Action<MembershipEvent> print) => Receive<MembershipEvent>(print);

    public static Props Props(Action<MembershipEvent> print) => Akka.Actor.Props.Create(() => new MembershipPrinter(print));
}
