using Akka.Actor;
using Registry.Discovery;
using Registry.Etcd;

namespace Registry;

/// <summary>
/// Discovery for one actor system: answers <see cref="SubscribeMembership"/> and <see cref="UnsubscribeMembership"/>,
/// starting one WatcherActor per service on first use. A crashed watcher is restarted and re-lists etcd, keeping
/// its subscribers, which then get a fresh snapshot.
/// </summary>
public sealed class DiscoverySupervisor : ReceiveActor
{
    /// <summary>Subscribing to this name watches every service under the prefix.</summary>
    public const string AllServices = "*";

    private readonly IRegistryStore _store;
    private readonly RegistrySettings _settings;

    internal DiscoverySupervisor(IRegistryStore store, RegistrySettings settings)
    {
        _store = store;
        _settings = settings;
        Receive<SubscribeMembership>(s => ForwardTo(s.Service, s));
        Receive<UnsubscribeMembership>(u => ForwardTo(u.Service, u));
    }

    /// <summary>A crashed watcher (Kill included) is restarted in place: it re-lists etcd and keeps its subscribers.</summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(e => e is ActorInitializationException ? Directive.Stop : Directive.Restart);

    internal static Props Props(IRegistryStore store, RegistrySettings settings) =>
        Akka.Actor.Props.CreateBy(new FactoryProducer<DiscoverySupervisor>(() => new DiscoverySupervisor(store, settings)));

    private void ForwardTo(string service, object message)
    {
        if (service != AllServices && InstanceValidation.CheckService(service) is { } problem)
        {
            Sender.Tell(new Status.Failure(new ArgumentException(problem, nameof(service))));
            return;
        }
        var name = service == AllServices ? "all-services" : $"service-{service}";
        var watcher = Context.Child(name);
        if (watcher.IsNobody()) watcher = Context.ActorOf(WatcherActor.Props(service, _store, _settings), name);
        watcher.Forward(message);
    }
}
