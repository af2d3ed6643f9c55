using Akka.Actor;

namespace Registry.Discovery;

/// <summary>
/// An actor's subscription to one service's membership at the discovery actor, sent again after a back-off when the
/// discovery actor answers it with a <see cref="Status.Failure"/>. Service names are checked before a subscriber is
/// created, so that answer means a failure inside the discovery actor, which cost only that message.
/// </summary>
internal sealed class MembershipSubscription(string service, IActorRef discovery)
{
    private static readonly Backoff Retry = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2);
    private int _failures;
    private ICancelable? _again;

    /// <summary>Subscribes <paramref name="subscriber"/>.</summary>
    public void Start(IActorRef subscriber) => discovery.Tell(new SubscribeMembership(service), subscriber);

    /// <summary>Subscribes <paramref name="context"/>'s actor again after a back-off; returns the delay.</summary>
    public TimeSpan Failed(IActorContext context)
    {
        var delay = Retry.Delay(_failures++);
        _again?.Cancel();
        _again = context.System.Scheduler.ScheduleTellOnceCancelable(delay, discovery, new SubscribeMembership(service), context.Self);
        return delay;
    }

    /// <summary>Unsubscribes <paramref name="subscriber"/> and cancels a pending subscription.</summary>
    public void Stop(IActorRef subscriber)
    {
        _again?.Cancel();
        discovery.Tell(new UnsubscribeMembership(service), subscriber);
    }
}
