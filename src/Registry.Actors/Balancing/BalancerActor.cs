using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Registry.Discovery;

namespace Registry.Balancing;

/// <summary>
/// The client-side balancer of one service: subscribes to its membership at the discovery actor (again, after a
/// back-off, if the discovery actor fails on the subscription), folds the events
/// into an immutable snapshot, and publishes each snapshot to its <see cref="ServiceBalancer"/>, which picks on the
/// hot path. Answers <see cref="Pick"/>, <see cref="ReportFailure"/>, <see cref="ReportTimeout"/>,
/// <see cref="ReportSuccess"/> and <see cref="GetBalancer"/> for callers that go through messages.
/// </summary>
internal sealed class BalancerActor : ReceiveActor, IWithTimers
{
    private readonly string _service;
    private readonly IActorRef _discovery;
    private readonly ServiceBalancer _balancer;
    private readonly MembershipSubscription _subscription;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ImmutableSortedDictionary<string, ServiceInstance> _members = ImmutableSortedDictionary.Create<string, ServiceInstance>(StringComparer.Ordinal);
    private bool _stale;
    // Changes applied to _members and not yet published; a PublishPending to self is on its way.
    private bool _publishPending;

    private BalancerActor(string service, IActorRef discovery, ServiceBalancer balancer)
    {
        _service = service;
        _discovery = discovery;
        _balancer = balancer;
        _balancer.Log = _log;
        _subscription = new MembershipSubscription(service, discovery);
        AwaitingSnapshot();
    }

    /// <summary>
    /// Props of the balancer of <paramref name="service"/>, fed by <paramref name="discovery"/> (the actor that answers
    /// <see cref="SubscribeMembership"/>). Create one actor per Props: restarts of that actor keep its
    /// <see cref="ServiceBalancer"/>, so hot paths holding it keep seeing the membership.
    /// </summary>
    /// <param name="service">The service the balancer picks instances of.</param>
    /// <param name="discovery">The discovery actor to subscribe to.</param>
    /// <param name="settings">The <c>registry.balancing</c> settings.</param>
    /// <param name="policy">The policy name; null takes <c>registry.balancing.policy</c>.</param>
    /// <param name="time">The clock of ejections; null is the system clock.</param>
    /// <exception cref="ArgumentException">The policy name is unknown; the message names the valid ones.</exception>
    public static Props Props(string service, IActorRef discovery, BalancingSettings settings, string? policy = null, TimeProvider? time = null) =>
        Props(service, discovery, settings, LoadBalancingPolicies.Create(policy ?? settings.Policy, settings), time);

    /// <summary>Props of a balancer that picks with <paramref name="policy"/>, an instance for this balancer alone.</summary>
    public static Props Props(string service, IActorRef discovery, BalancingSettings settings, ILoadBalancingPolicy policy, TimeProvider? time = null)
    {
        // Created once, with the Props: restarts of the actor keep the handle hot paths hold.
        var balancer = new ServiceBalancer(service, policy, settings, time);
        return Akka.Actor.Props.CreateBy(new FactoryProducer<BalancerActor>(() => new BalancerActor(service, discovery, balancer)));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        Context.Watch(_discovery);
        _subscription.Start(Self);
    }

    protected override bool AroundReceive(Receive receive, object message)
    {
        // Anything but a membership change (a pick, a report, a request for the hot path) sees every change before it.
        if (message is not MembershipEvent) PublishNow();
        return base.AroundReceive(receive, message);
    }

    /// <summary>A restart keeps the <see cref="ServiceBalancer"/> (see Props): the next incarnation subscribes again and follows on.</summary>
    protected override void PreRestart(Exception reason, object message)
    {
        _subscription.Stop(Self);
        PublishNow();
    }

    protected override void PostStop()
    {
        PublishNow();
        _subscription.Stop(Self);
        // Hot paths may outlive the actor: they keep the last membership, flagged as no longer followed.
        _balancer.SetStale(true);
        _balancer.Abandon($"the balancer of '{_service}' stopped before it knew the membership; ask the registry for the one that follows it");
    }

    /// <summary>Subscribed; no snapshot yet, so picks answer that the membership is not known.</summary>
    private void AwaitingSnapshot()
    {
        Receive<MembershipEvent>(e => e.Service != _service, IgnoreOtherService);
        Receive<MembershipSnapshot>(s =>
        {
            ApplySnapshot(s);
            Become(Following);
        });
        Receive<MembershipStale>(s =>
        {
            _stale = s.Stale;
            _balancer.SetStale(s.Stale, s.Reason);
        });
        Receive<MembershipEvent>(e => _log.Debug("'{0}': {1} before the first snapshot ignored", _service, e.GetType().Name));
        Receive<Status.Failure>(f => _subscription.Failed(f, Timers, _log));
        Common();
    }

    /// <summary>Holds a membership and applies every change to it.</summary>
    private void Following()
    {
        Receive<MembershipEvent>(e => e.Service != _service, IgnoreOtherService);
        Receive<MembershipSnapshot>(ApplySnapshot);
        Receive<InstanceUp>(up =>
        {
            _log.Info("'{0}': {1} up at {2}", _service, up.Instance.Id, up.Instance.Address);
            Publish(_members.SetItem(up.Instance.Id, up.Instance));
        });
        Receive<InstanceDown>(down =>
        {
            _log.Info("'{0}': {1} down", _service, down.Instance.Id);
            Publish(_members.Remove(down.Instance.Id));
        });
        Receive<InstanceUpdated>(updated =>
        {
            _log.Info("'{0}': {1} updated (address {2}, weight {3})", _service, updated.Instance.Id, updated.Instance.Address, updated.Instance.Weight);
            Publish(_members.Remove(updated.Previous.Id).SetItem(updated.Instance.Id, updated.Instance));
        });
        Receive<MembershipStale>(s =>
        {
            if (s.Stale == _stale) return;
            _stale = s.Stale;
            if (s.Stale) _log.Warning("'{0}': membership is stale, keeping the last {1} instance(s): {2}", _service, _members.Count, s.Reason ?? "etcd unreachable");
            else _log.Info("'{0}': membership is fresh again", _service);
            // A publish on its way carries the flag with the members.
            if (!_publishPending) _balancer.SetStale(s.Stale);
        });
        Common();
    }

    /// <summary>What every behaviour answers.</summary>
    private void Common()
    {
        Receive<Pick>(pick =>
        {
            BalancedCall call;
            try
            {
                call = _balancer.Pick(pick.Key);
            }
            catch (Exception e)
            {
                // A custom policy that throws fails this pick, not the actor (whose restart would subscribe again).
                _log.Error(e, "'{0}': the policy failed to pick", _service);
                Sender.Tell(new Status.Failure(e));
                return;
            }
            // Outstanding calls are tracked by hot-path handles only: a message caller never says when its call ends.
            if (call.HasInstance)
            {
                call.Release();
                Sender.Tell(new Picked(call.Instance));
            }
            else
            {
                Sender.Tell(new NoInstance(_service, _balancer.UnavailableReason ?? $"no instance of '{_service}' can be picked"));
            }
        });
        Receive<ReportFailure>(r => Report(r.InstanceId, r.Address, _balancer.Failed));
        Receive<ReportTimeout>(r => Report(r.InstanceId, r.Address, _balancer.TimedOut));
        Receive<ReportSuccess>(r => Report(r.InstanceId, r.Address, _balancer.Succeeded));
        Receive<GetBalancer>(_ => Sender.Tell(_balancer));
        // Published on its way in (AroundReceive).
        Receive<PublishPending>(_ => { });
        Receive<MembershipSubscription.Resubscribe>(_ => _subscription.Start(Self));
        Receive<Terminated>(t => t.ActorRef.Equals(_discovery), _ =>
        {
            _log.Warning("'{0}': the discovery actor stopped; keeping the last {1} instance(s) as stale", _service, _members.Count);
            _stale = true;
            _balancer.SetStale(true);
            _balancer.Abandon($"the registry's discovery stopped before the balancer of '{_service}' knew the membership");
        });
    }

    private void ApplySnapshot(MembershipSnapshot snapshot)
    {
        _log.Info("'{0}': {1} instance(s) at revision {2}{3}", _service, snapshot.Instances.Length, snapshot.Revision, snapshot.Stale ? " (stale)" : "");
        _stale = snapshot.Stale;
        var members = ImmutableSortedDictionary.CreateBuilder<string, ServiceInstance>(StringComparer.Ordinal);
        foreach (var instance in snapshot.Instances) members[instance.Id] = instance;
        Publish(members.ToImmutable());
    }

    /// <summary>
    /// Applies a membership change; it is published once the changes already in the mailbox are applied too, so a burst
    /// of them (a deployment, a listing's worth of events) builds one snapshot (a ring, a schedule) rather than one each.
    /// </summary>
    private void Publish(ImmutableSortedDictionary<string, ServiceInstance> members)
    {
        _members = members;
        if (_publishPending) return;
        _publishPending = true;
        Self.Tell(PublishPending.Instance);
    }

    private void PublishNow()
    {
        if (!_publishPending) return;
        _publishPending = false;
        _balancer.Publish([.. _members.Values], _stale);
    }

    private void Report(string instanceId, string? address, Action<InstanceState> outcome)
    {
        if (_balancer.Find(instanceId) is not { } state)
        {
            _log.Debug("'{0}': outcome reported for {1}, which is not a member", _service, instanceId);
            return;
        }
        if (address is not null && address != state.Instance.Address)
        {
            _log.Debug("'{0}': outcome reported for {1} at {2}, which is now at {3}", _service, instanceId, address, state.Instance.Address);
            return;
        }
        outcome(state);
    }

    private void IgnoreOtherService(MembershipEvent e) =>
        _log.Warning("balancer of '{0}' got a {1} of '{2}'; ignored", _service, e.GetType().Name, e.Service);

    /// <summary>Time to publish the changes applied since the last snapshot.</summary>
    private sealed record PublishPending
    {
        public static readonly PublishPending Instance = new();
    }
}
