namespace Registry.Discovery;

internal sealed partial class WatcherActor
{
    private sealed record List;

    /// <summary>The answer to the listing asked for as <paramref name="Token"/>: only the last one asked counts.</summary>
    private sealed record Listed(long Token, Etcd.Listing Listing);

    private sealed record ListFailed(long Token, string Reason);

    private sealed record Batch(int Generation, Etcd.WatchBatch Events);

    private sealed record WatchEnded(int Generation, Exception Reason);

    private sealed record CheckSilence(int Generation, long BatchesSeen);

    /// <summary>
    /// Sent to itself before a restart, so the new incarnation keeps serving the same subscribers, counting
    /// subscriptions from where the last one stopped and reporting from the revision their view is at.
    /// </summary>
    private sealed record RestoreSubscribers(IReadOnlyCollection<Akka.Actor.IActorRef> Subscribers, long Subscribes, long Revision);

    /// <summary>
    /// To the DiscoverySupervisor: no subscriber is left, after <paramref name="Subscribes"/> subscriptions in all. Lost
    /// without a word when the supervisor stopped first (the registry closing, its subscribers with it).
    /// </summary>
    internal sealed record Idle(string Service, long Subscribes) : Akka.Event.IDeadLetterSuppression;
}
