using Akka.Actor;

namespace Registry.Host.Cli;

/// <summary>
/// Subscribes to one service's membership (or every service's) at the registry's discovery actor and hands each
/// <see cref="MembershipEvent"/> to the command, in order, on this actor's thread. The watcher says nothing until it
/// has listed etcd once, so when no snapshot came within <see cref="Patience"/> the command is told, once, that etcd
/// has not answered yet.
/// </summary>
internal sealed class MembershipSubscriber : ReceiveActor, IWithTimers
{
    /// <summary>How long the first snapshot may take before the command says that etcd has not answered yet.</summary>
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(1);

    private const string WaitingTimer = "waiting";

    private readonly IActorRef _discovery;
    private readonly string _service;

    public MembershipSubscriber(IActorRef discovery, string service, Action waiting, Action<MembershipEvent> received, Action<Exception> refused)
    {
        _discovery = discovery;
        _service = service;
        Receive<MembershipSnapshot>(s =>
        {
            Timers.Cancel(WaitingTimer);
            received(s);
        });
        Receive<MembershipEvent>(received);
        Receive<Waiting>(_ => waiting());
        Receive<Status.Failure>(f => refused(f.Cause));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IActorRef discovery, string service, Action waiting, Action<MembershipEvent> received, Action<Exception> refused) =>
        Akka.Actor.Props.Create(() => new MembershipSubscriber(discovery, service, waiting, received, refused));

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
