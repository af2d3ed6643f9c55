using System.Collections.Immutable;
using System.Net;
using Akka.Actor;
using Grpc.Core;
using GrpcStatus = Grpc.Core.Status;
using Grpc.Net.Client.Balancer;
using Akka.Event;
using Registry.Discovery;

namespace Registry;

/// <summary>
/// Feeds one gRPC channel's resolver: subscribes to a service's membership at the discovery actor and, on every
/// change of the set of addresses, hands the channel <see cref="ResolverResult.ForResult(IReadOnlyList{BalancerAddress})"/>.
/// Changes already in the mailbox together (a re-listing's, reported new instances first) are handed over as one result.
/// A stale membership keeps the last addresses; an empty one is reported as <see cref="StatusCode.Unavailable"/>.
/// </summary>
internal sealed class ResolverActor : ReceiveActor, IWithTimers
{
    private readonly string _service;
    private readonly IActorRef _discovery;
    private readonly Action<ResolverResult> _listener;
    private readonly MembershipSubscription _subscription;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private ImmutableSortedDictionary<string, ServiceInstance> _members = ImmutableSortedDictionary.Create<string, ServiceInstance>(StringComparer.Ordinal);
    private ResolverResult? _last;
    private string[] _lastAddresses = [];
    // A PublishPending is on its way to this actor: the members changed since the last result.
    private bool _pending;
    private bool _forcePending;

    public ResolverActor(string service, IActorRef discovery, Action<ResolverResult> listener)
    {
        _service = service;
        _discovery = discovery;
        _listener = listener;
        _subscription = new MembershipSubscription(service, discovery);
        AwaitingSnapshot();
    }

    public static Props Props(string service, IActorRef discovery, Action<ResolverResult> listener) =>
        Akka.Actor.Props.Create(() => new ResolverActor(service, discovery, listener));

    public ITimerScheduler Timers { get; set; } = null!;

    protected override void PreStart()
    {
        Context.Watch(_discovery);
        _subscription.Start(Self);
    }

    /// <summary>A restart subscribes again: the channel waits on for the first result.</summary>
    protected override void PreRestart(Exception reason, object message) => _subscription.Stop(Self);

    protected override void PostStop()
    {
        _subscription.Stop(Self);
        // Members taken but not yet handed over go now; a channel waits for its first result whatever its calls'
        // deadlines, so it must not wait for one that never comes.
        PublishNow();
        FailIfUnknown("the resolver stopped (the registry closing, or the channel disposed)");
    }

    /// <summary>Subscribed, membership not known yet: calls wait for the first result unless etcd cannot be read.</summary>
    private void AwaitingSnapshot()
    {
        Receive<MembershipSnapshot>(s => s.Service == _service, s =>
        {
            Apply(s);
            Become(Following);
        });
        Receive<MembershipStale>(s => s.Service == _service && s.Stale, s =>
            Deliver(ResolverResult.ForFailure(new GrpcStatus(StatusCode.Unavailable,
                $"the membership of '{_service}' is not known yet: {s.Reason ?? "etcd is unreachable"}"))));
        Receive<Akka.Actor.Status.Failure>(f =>
        {
            _subscription.Failed(f, Timers, _log);
            FailIfUnknown("the registry's discovery failed on the subscription; subscribing again");
        });
        Common();
    }

    private void Following()
    {
        Receive<MembershipSnapshot>(s => s.Service == _service, Apply);
        Receive<InstanceUp>(up => up.Service == _service, up => Update(_members.SetItem(up.Instance.Id, up.Instance)));
        Receive<InstanceDown>(down => down.Service == _service, down => Update(_members.Remove(down.Instance.Id)));
        Receive<InstanceUpdated>(u => u.Service == _service, u => Update(_members.Remove(u.Previous.Id).SetItem(u.Instance.Id, u.Instance)));
        Receive<MembershipStale>(s => s.Service == _service, s =>
        {
            // The channel keeps its addresses: a blink of etcd must not empty it.
            if (s.Stale) _log.Warning("registry:///{0}: membership stale ({1}); keeping {2} address(es)", _service, s.Reason, _lastAddresses.Length);
        });
        Common();
    }

    private void Common()
    {
        Receive<MembershipSubscription.Resubscribe>(_ => _subscription.Start(Self));
        Receive<PublishPending>(_ => PublishNow());
        Receive<Refresh>(_ =>
        {
            // A result on its way is delivered whatever it holds; otherwise the last one again.
            if (_pending) _forcePending = true;
            else if (_last is not null) Deliver(_last);
        });
        Receive<Terminated>(t => t.ActorRef.Equals(_discovery), _ =>
        {
            // Expected while the actor system stops; otherwise the addresses are no longer followed.
            if (CoordinatedShutdown.Get(Context.System).ShutdownReason is null)
                _log.Warning("registry:///{0}: the discovery actor stopped; keeping {1} address(es)", _service, _lastAddresses.Length);
            FailIfUnknown("the registry's discovery stopped");
        });
        Receive<MembershipEvent>(_ => { });
    }

    /// <summary>
    /// Before any result (and none on its way), hands the channel <see cref="StatusCode.Unavailable"/> saying
    /// <paramref name="why"/>, so its calls end.
    /// </summary>
    private void FailIfUnknown(string why)
    {
        if (_last is null && !_pending) Deliver(ResolverResult.ForFailure(new GrpcStatus(StatusCode.Unavailable, $"the membership of '{_service}' is not known: {why}")));
    }

    private void Apply(MembershipSnapshot snapshot)
    {
        var members = ImmutableSortedDictionary.CreateBuilder<string, ServiceInstance>(StringComparer.Ordinal);
        foreach (var instance in snapshot.Instances) members[instance.Id] = instance;
        Update(members.ToImmutable(), force: _last is null || _lastAddresses.Length == 0);
    }

    /// <summary>
    /// Takes the new members; the result follows once the changes already in the mailbox are applied too (one
    /// message to itself later), as the watcher sends a burst of changes back to back.
    /// </summary>
    private void Update(ImmutableSortedDictionary<string, ServiceInstance> members, bool force = false)
    {
        _members = members;
        _forcePending |= force;
        if (_pending) return;
        _pending = true;
        Self.Tell(PublishPending.Instance);
    }

    /// <summary>Hands the channel the members' addresses if they changed since the last result.</summary>
    private void PublishNow()
    {
        if (!_pending) return;
        var force = _forcePending;
        (_pending, _forcePending) = (false, false);
        var addresses = _members.Values.Select(i => i.Address).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToArray();
        if (!force && addresses.AsSpan().SequenceEqual(_lastAddresses)) return;
        _lastAddresses = addresses;
        _log.Info("registry:///{0} resolved to [{1}]", _service, string.Join(", ", addresses));
        Deliver(addresses.Length == 0
            ? ResolverResult.ForFailure(new GrpcStatus(StatusCode.Unavailable, $"no instance of '{_service}' is registered"))
            : ResolverResult.ForResult(addresses.Select(ToBalancerAddress).ToArray()));
    }

    private void Deliver(ResolverResult result)
    {
        _last = result;
        try
        {
            _listener(result);
        }
        catch (Exception e)
        {
            // The channel's own failure (e.g. disposed meanwhile) must not restart the subscription.
            _log.Warning("registry:///{0}: the channel did not take the resolver result: {1}", _service, e.Message);
        }
    }

    /// <summary>host:port (host may be a bracketed IPv6 literal) as the endpoint a subchannel connects to.</summary>
    internal static BalancerAddress ToBalancerAddress(string address)
    {
        var colon = address.LastIndexOf(':');
        var host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        return new BalancerAddress(new DnsEndPoint(host, int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
    }

    private sealed record PublishPending
    {
        public static readonly PublishPending Instance = new();
    }

    /// <summary>Hands the channel the last result again.</summary>
    public sealed record Refresh
    {
        public static readonly Refresh Instance = new();
    }
}
