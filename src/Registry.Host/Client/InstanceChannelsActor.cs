using Akka.Actor;
using Akka.Event;
using Registry.Discovery;

namespace Registry.Host.Client;

/// <summary>
/// Follows a service's membership for <see cref="InstanceChannels"/>: when an address is no longer registered, its
/// channel is retired and disposed after a grace period. Disposes every retired channel when it stops.
/// </summary>
internal sealed class InstanceChannelsActor : ReceiveActor, IWithTimers
{
    private readonly string _service;
    private readonly MembershipSubscription _subscription;
    private readonly InstanceChannels _channels;
    private readonly TimeSpan _grace;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, string> _addresses = new(StringComparer.Ordinal);
    private readonly HashSet<InstanceChannel> _retired = [];

    public InstanceChannelsActor(string service, IActorRef discovery, InstanceChannels channels, TimeSpan grace)
    {
        _service = service;
        _subscription = new MembershipSubscription(service, discovery);
        _channels = channels;
        _grace = grace;
        Receive<MembershipSnapshot>(s => s.Service == _service, s =>
        {
            _addresses.Clear();
            foreach (var instance in s.Instances) _addresses[instance.Id] = instance.Address;
            Publish();
            foreach (var address in _channels.Addresses) RetireIfGone(address);
        });
        Receive<InstanceUp>(up => up.Service == _service, up =>
        {
            _addresses[up.Instance.Id] = up.Instance.Address;
            Publish();
        });
        Receive<InstanceDown>(down => down.Service == _service, down =>
        {
            _addresses.Remove(down.Instance.Id);
            Publish();
            RetireIfGone(down.Instance.Address);
        });
        Receive<InstanceUpdated>(u => u.Service == _service, u =>
        {
            _addresses.Remove(u.Previous.Id);
            _addresses[u.Instance.Id] = u.Instance.Address;
            Publish();
            RetireIfGone(u.Previous.Address);
        });
        Receive<Recheck>(r => RetireIfGone(r.Address));
        Receive<MembershipEvent>(_ => { });
        Receive<Status.Failure>(f => _subscription.Failed(f, Timers, _log));
        Receive<MembershipSubscription.Resubscribe>(_ => _subscription.Start(Self));
        Receive<DisposeRetired>(d =>
        {
            if (_retired.Remove(d.Channel)) d.Channel.Dispose();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string service, IActorRef discovery, InstanceChannels channels, TimeSpan grace) =>
        Akka.Actor.Props.Create(() => new InstanceChannelsActor(service, discovery, channels, grace));

    protected override void PreStart() => _subscription.Start(Self);

    protected override void PostStop()
    {
        _subscription.Stop(Self);
        foreach (var channel in _retired) channel.Dispose();
        _retired.Clear();
    }

    /// <summary>Tells the pool which addresses are registered, before any channel of another one is retired.</summary>
    private void Publish() => _channels.SetMembers([.. _addresses.Values]);

    private void RetireIfGone(string address)
    {
        if (_addresses.ContainsValue(address) || _channels.Retire(address) is not { } channel) return;
        _log.Debug("'{0}': no instance at {1} any more; its channel closes in {2}", _service, address, _grace);
        _retired.Add(channel);
        Timers.StartSingleTimer(channel, new DisposeRetired(channel), _grace);
    }

    private sealed record DisposeRetired(InstanceChannel Channel);

    /// <summary>A channel to <see cref="Address"/> was handed out while no instance is registered there: retire it.</summary>
    public sealed record Recheck(string Address);
}
