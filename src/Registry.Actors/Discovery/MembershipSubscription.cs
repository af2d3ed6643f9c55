using Akka.Actor;
using Akka.Event;

namespace Registry.Discovery;

/// <summary>
/// An actor's subscription to one service's membership at the discovery actor, sent again after a back-off when the
/// discovery actor answers it with a <see cref="Status.Failure"/>. Service names are checked before a subscriber is
/// created, so that answer means a failure inside the discovery actor, which cost only that message. The subscriber
/// handles <see cref="Resubscribe"/> by calling <see cref="Start"/>.
/// </summary>
internal sealed class MembershipSubscription(string service, IActorRef discovery)
{
    private static readonly Backoff Retry = new(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30), 0.2);
    private int _failures;

    /// <summary>Subscribes <paramref name="subscriber"/>.</summary>
    public void Start(IActorRef subscriber) => discovery.Tell(new SubscribeMembership(service), subscriber);

    /// <summary>
    /// Logs the discovery actor's failure on the subscription and sends the subscriber a <see cref="Resubscribe"/> after
    /// a back-off, on its own timers (cancelled when it stops or restarts).
    /// </summary>
    public void Failed(Status.Failure failure, ITimerScheduler timers, ILoggingAdapter log)
    {
        var delay = Retry.Delay(_failures++);
        timers.StartSingleTimer(Resubscribe.Instance, Resubscribe.Instance, delay);
        log.Error(failure.Cause, "'{0}': the discovery actor failed on the subscription; subscribing again in {1}", service, delay);
    }

    /// <summary>Unsubscribes <paramref name="subscriber"/>.</summary>
    public void Stop(IActorRef subscriber) => discovery.Tell(new UnsubscribeMembership(service), subscriber);

    /// <summary>Time to subscribe again.</summary>
    public sealed record Resubscribe
    {
        public static readonly Resubscribe Instance = new();
    }
}
