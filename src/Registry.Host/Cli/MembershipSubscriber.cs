using Akka.Actor;

namespace Registry.Host.Cli;

/// <summary>
/// Subscribes to one service's membership (or every service's) at the registry's discovery actor and hands each
/// <see cref="MembershipEvent"/> to the command, in order, on this actor's thread. The watcher says nothing until it
/// has listed etcd once, so when no snapshot came within <see cref="Patience"/> the command is told that etcd has not
/// answered yet, with why the last listing failed (a TLS handshake refused, say); if no listing had
/// failed by then, it is told again, with the reason, once one has.
/// </summary>
internal sealed class MembershipSubscriber : ReceiveActor, IWithTimers
{
    /// <summary>How long the first snapshot may take before the command says that etcd has not answered yet.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    private const string WaitingTimer = "waiting";

    private readonly IActorRef _discovery;
    private readonly string _service;
    private string? _staleReason;
    // Waiting was told before any listing had failed, and no snapshot has come since: the first reason is told too.
    private bool _reasonOwed;

    public MembershipSubscriber(IActorRef discovery, string service, Action<string?> waiting, Action<MembershipEvent> received, Action<Exception> refused)
    {
        _discovery = discovery;
        _service = service;
        Receive<MembershipSnapshot>(s =>
        {
            Timers.Cancel(WaitingTimer);
            _reasonOwed = false;
            received(s);
        });
        Receive<MembershipStale>(s =>
        {
            _staleReason = s.Stale ? s.Reason : null;
            if (_reasonOwed && _staleReason is not null) TellWaiting(waiting);
            received(s);
        });
        Receive<MembershipEvent>(received);
        Receive<Waiting>(_ => TellWaiting(waiting));
        Receive<Status.Failure>(f => refused(f.Cause));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="discovery">The registry's discovery actor.</param>
    /// <param name="service">The service, or <see cref="DiscoverySupervisor.AllServices"/>.</param>
    /// <param name="waiting">
    /// Told when no snapshot came within <see cref="Patience"/>, with why etcd could not be read if known; again when that
    /// becomes known later.
    /// </param>
    /// <param name="received">Every membership event, in order.</param>
    /// <param name="refused">The subscription was refused.</param>
    public static Props Props(IActorRef discovery, string service, Action<string?> waiting, Action<MembershipEvent> received, Action<Exception> refused) =>
        Akka.Actor.Props.Create(() => new MembershipSubscriber(discovery, service, waiting, received, refused));

    private void TellWaiting(Action<string?> waiting)
    {
        _reasonOwed = _staleReason is null;
        waiting(_staleReason);
    }

    protected override void PreStart()
    {
        _discovery.Tell(new SubscribeMembership(_service));
        Timers.StartSingleTimer(WaitingTimer, Waiting.Instance, Patience);
    }

    private sealed record Waiting
    {
        public static readonly Waiting Instance = new();
    }
}
