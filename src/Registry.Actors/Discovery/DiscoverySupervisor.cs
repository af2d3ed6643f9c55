using Akka.Actor;
using Akka.Event;
using Registry.Discovery;
using Registry.Etcd;

namespace Registry;

/// <summary>
/// Discovery for one actor system: answers <see cref="SubscribeMembership"/> and <see cref="UnsubscribeMembership"/>,
/// starting one WatcherActor per service on first use and stopping it, with its etcd watch, once its last subscriber
/// has left. A crashed watcher is restarted and re-lists etcd, keeping its subscribers, which then get a fresh
/// snapshot. It is never restarted itself: a failure on a message costs only that message.
/// </summary>
public sealed class DiscoverySupervisor : ReceiveActor
{
    /// <summary>Subscribing to this name watches every service under the prefix.</summary>
    public const string AllServices = "*";

    private readonly IRegistryStore _store;
    private readonly RegistrySettings _settings;
    private readonly Dictionary<string, Watched> _watched = new(StringComparer.Ordinal);
    private readonly ILoggingAdapter _log = Context.GetLogger();

    internal DiscoverySupervisor(IRegistryStore store, RegistrySettings settings)
    {
        _store = store;
        _settings = settings;
        Receive<SubscribeMembership>(s => Route(s.Service, s, Sender));
        Receive<UnsubscribeMembership>(u => Route(u.Service, u, Sender));
        Receive<WatcherActor.Idle>(OnIdle);
        Receive<Terminated>(t => OnStopped(t.ActorRef));
    }

    /// <summary>A crashed watcher (Kill included) is restarted in place: it re-lists etcd and keeps its subscribers.</summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(e => e is ActorInitializationException ? Directive.Stop : Directive.Restart);

    /// <summary>
    /// An exception escaping a handler costs only the message that raised it: it is logged, a subscription or
    /// unsubscription is answered with a <see cref="Status.Failure"/> holding it, and every watcher is kept. Left to the
    /// parent, the failure would restart this actor, stopping every watcher and leaving its subscribers without events.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            _log.Error(e, "failed on a message of type {0}, which is dropped; every watcher is kept", message.GetType().Name);
            if (message is SubscribeMembership or UnsubscribeMembership) Sender.Tell(new Status.Failure(e));
            return true;
        }
    }

    internal static Props Props(IRegistryStore store, RegistrySettings settings) =>
        Akka.Actor.Props.CreateBy(new FactoryProducer<DiscoverySupervisor>(() => new DiscoverySupervisor(store, settings)));

    private void Route(string service, object message, IActorRef sender)
    {
        if (service != AllServices && InstanceValidation.CheckService(service) is { } problem)
        {
            sender.Tell(new Status.Failure(new ArgumentException(problem, nameof(service))));
            return;
        }
        if (message is SubscribeMembership && sender.IsNobody())
        {
            // Nobody could leave, so the watch would never end.
            _log.Warning("ignoring a subscription to {0} sent without a sender: send it from the actor that is to receive the events", service);
            return;
        }
        if (!_watched.TryGetValue(service, out var watched))
        {
            // Nothing watched, nothing to leave.
            if (message is UnsubscribeMembership) return;
            var name = service == AllServices ? "all-services" : $"service-{service}";
            _watched[service] = watched = new Watched(Context.Watch(Context.ActorOf(WatcherActor.Props(service, _store, _settings), name)));
        }
        if (watched.Stopping)
        {
            // Its successor takes the name once it has stopped, and gets these in order.
            watched.Waiting.Add((message, sender));
            return;
        }
        if (message is SubscribeMembership) watched.Subscribes++;
        watched.Watcher.Tell(message, sender);
    }

    /// <summary>
    /// Stops a watcher left without subscribers, unless a subscription forwarded to it has not reached it yet: it
    /// then reports again if that one leaves too.
    /// </summary>
    private void OnIdle(WatcherActor.Idle idle)
    {
        if (!_watched.TryGetValue(idle.Service, out var watched) || !watched.Watcher.Equals(Sender)) return;
        if (watched.Stopping || watched.Subscribes != idle.Subscribes) return;
        watched.Stopping = true;
        Context.Stop(watched.Watcher);
    }

    /// <summary>Publishes <see cref="WatcherStopped"/> for every watched service: the watchers stop with this actor.</summary>
    protected override void PostStop()
    {
        // Without a Terminated here: each is told gone as when it stops alone.
        foreach (var service in _watched.Keys)
        {
            if (service != AllServices) Context.System.EventStream.Publish(new WatcherStopped(service));
        }
    }

    private void OnStopped(IActorRef watcher)
    {
        var (service, watched) = _watched.FirstOrDefault(w => w.Value.Watcher.Equals(watcher));
        if (watched is null) return;
        _watched.Remove(service);
        // Before a successor can start: on the EventStream, its events follow this one.
        if (service != AllServices) Context.System.EventStream.Publish(new WatcherStopped(service));
        foreach (var (message, sender) in watched.Waiting) Route(service, message, sender);
    }

    /// <summary>A service's watcher and how many subscriptions it was sent; messages for its successor while it stops.</summary>
    private sealed class Watched(IActorRef watcher)
    {
        public IActorRef Watcher { get; } = watcher;
        public long Subscribes { get; set; }
        public bool Stopping { get; set; }
        public List<(object Message, IActorRef Sender)> Waiting { get; } = [];
    }
}
