using Akka.Actor;

namespace Registry.Host.Cli;

/// <summary>
/// Subscribes to one service's membership (or every service's) at the registry's discovery actor and hands each
/// <see cref="MembershipEvent"/> to the command, in order, on this actor's thread. The watcher says nothing until it
/// has listed etcd once, so when no snapshot came within <c>patience</c> the command is told, once, that etcd has
/// not answered yet.
/// </summary>
internal sealed class MembershipSubscriber : ReceiveActor, IWithTimers
{
    private const string WaitingTimer = "waiting";

    private readonly IActorRef _discovery;
    private readonly string _service;
    private readonly TimeSpan _patience;

    public MembershipSubscriber(IActorRef discovery, string service, TimeSpan patience, Action waiting, Action<MembershipEvent> received, Action<Exception> refused)
    {
        _discovery = discovery;
        _service = service;
        _patience = patience;
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

    public static Props Props(IActorRef discovery, string service, TimeSpan patience, Action waiting, Action<MembershipEvent> received, Action<Exception> refused) =>
        Akka.Actor.Props.Create(() => new MembershipSubscriber(discovery, service, patience, waiting, received, refused));

    protected override void PreStart()
    {
        _discovery.Tell(new SubscribeMembership(_service));
        Timers.StartSingleTimer(WaitingTimer, Waiting.Instance, _patience);
    }

    private sealed record Waiting
    {
        public static readonly Waiting Instance = new();
    }
}
