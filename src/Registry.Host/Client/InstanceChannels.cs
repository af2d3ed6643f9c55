using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka.Actor;

namespace Registry.Host.Client;

/// <summary>
/// One gRPC channel per instance address of a service, created on first use and kept while an instance is
/// registered at that address. When the address leaves the membership its channel is retired: no longer handed
/// out, and disposed once calls that picked it before can no longer be running (<see cref="UserCallSettings.RetireGrace"/>).
/// The membership comes from an <see cref="InstanceChannelsActor"/> subscribed at the discovery actor.
/// </summary>
internal sealed class InstanceChannels : IAsyncDisposable
{
    private static long _count;
    private readonly ConcurrentDictionary<string, Lazy<InstanceChannel>> _channels = new(StringComparer.Ordinal);
    private readonly UserCallSettings _settings;
    private readonly IActorRef _follower;
    private ImmutableHashSet<string>? _members;
    private int _disposed;

    public InstanceChannels(ActorSystem system, string service, UserCallSettings settings)
    {
        _settings = settings;
        var props = InstanceChannelsActor.Props(service, ServiceRegistry.Get(system).Discovery, this, settings.RetireGrace);
        _follower = system.ActorOf(props, $"instance-channels-{service}-{Interlocked.Increment(ref _count)}");
    }

    /// <summary>The channel to <paramref name="address"/> (host:port), created on first use.</summary>
    public InstanceChannel Get(string address)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        var channel = _channels.GetOrAdd(address, a => new Lazy<InstanceChannel>(() => InstanceChannel.Create(a, _settings))).Value;
        // Picked just before its instance left, after the follower retired its channel: this one is retired too.
        if (Volatile.Read(ref _members) is { } members && !members.Contains(address)) _follower.Tell(new InstanceChannelsActor.Recheck(address));
        return channel;
    }

    /// <summary>Addresses with a channel now.</summary>
    public IReadOnlyCollection<string> Addresses => _channels.Keys.ToList();

    /// <summary>The addresses registered now, set by the follower before it retires the channels of others.</summary>
    internal void SetMembers(ImmutableHashSet<string> addresses) => Volatile.Write(ref _members, addresses);

    /// <summary>Stops handing out the channel to <paramref name="address"/>; returns it to be disposed later, or null.</summary>
    internal InstanceChannel? Retire(string address) =>
        _channels.TryRemove(address, out var channel) && channel.IsValueCreated ? channel.Value : null;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        try
        {
            // The follower disposes the channels it retired when it stops.
            await _follower.GracefulStop(TimeSpan.FromSeconds(5));
        }
        catch (Exception)
        {
            // The actor system is already shutting down; its channels are disposed below all the same.
        }
        foreach (var address in _channels.Keys) Retire(address)?.Dispose();
    }
}
