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
    private readonly ConcurrentDictionary<string, Entry> _channels = new(StringComparer.Ordinal);
    private readonly Func<string, InstanceChannel> _create;
    private readonly IActorRef _follower;
    private ImmutableHashSet<string>? _members;
    private int _disposed;

    public InstanceChannels(ActorSystem system, string service, UserCallSettings settings)
        : this(system, service, settings, address => InstanceChannel.Create(address, settings))
    {
    }

    /// <summary>A pool whose channels <paramref name="create"/> makes, one per address.</summary>
    internal InstanceChannels(ActorSystem system, string service, UserCallSettings settings, Func<string, InstanceChannel> create)
    {
        _create = create;
        var props = InstanceChannelsActor.Props(service, ServiceRegistry.Get(system).Discovery, this, settings.RetireGrace);
        _follower = system.ActorOf(props, $"instance-channels-{service}-{Interlocked.Increment(ref _count)}");
    }

    /// <summary>The channel to <paramref name="address"/> (host:port), created on first use.</summary>
    public InstanceChannel Get(string address)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        Entry entry;
        InstanceChannel? channel;
        // An entry retired between the look-up and the creation has no channel: the address gets a new entry, checked
        // below like any other.
        do channel = (entry = _channels.GetOrAdd(address, static a => new Entry(a))).Get(_create);
        while (channel is null);
        // Disposed meanwhile, DisposeAsync may have listed the entries before this one was added. Read with a full
        // fence after the add: either DisposeAsync lists the entry or this sees it disposed, and whichever of the two
        // takes the entry out disposes its channel.
        if (Interlocked.CompareExchange(ref _disposed, 0, 0) != 0)
        {
            if (_channels.TryRemove(new KeyValuePair<string, Entry>(address, entry))) entry.Retire()?.Dispose();
            ObjectDisposedException.ThrowIf(true, this);
        }
        // Picked just before its instance left, after the follower retired its channel: this one is retired too.
        if (Volatile.Read(ref _members) is { } members && !members.Contains(address)) _follower.Tell(new InstanceChannelsActor.Recheck(address));
        return channel;
    }

    /// <summary>Addresses with a channel now (or one being created).</summary>
    public IReadOnlyCollection<string> Addresses => _channels.Keys.ToList();

    /// <summary>The addresses registered now, set by the follower before it retires the channels of others.</summary>
    internal void SetMembers(ImmutableHashSet<string> addresses) => Volatile.Write(ref _members, addresses);

    /// <summary>
    /// Stops handing out the channel to <paramref name="address"/>; returns it to be disposed later, or null when none
    /// was created. A channel being created meanwhile is returned here once created, never left to its caller.
    /// </summary>
    internal InstanceChannel? Retire(string address) => _channels.TryRemove(address, out var entry) ? entry.Retire() : null;

    /// <summary>
    /// The channel of one address: created on first use unless the address was retired first, and then held by
    /// whoever retired it. Creating and retiring take turns, so a channel is never created after its entry was retired.
    /// </summary>
    private sealed class Entry(string address)
    {
        private readonly Lock _lock = new();
        private InstanceChannel? _channel;
        private bool _retired;

        /// <summary>The channel, created on first use; null when the entry was retired before one was created.</summary>
        public InstanceChannel? Get(Func<string, InstanceChannel> create)
        {
            if (Volatile.Read(ref _channel) is { } channel) return channel;
            lock (_lock)
            {
                if (_retired) return null;
                if (_channel is null) Volatile.Write(ref _channel, create(address));
                return _channel;
            }
        }

        /// <summary>Creates no channel from now on; returns the one created, if any.</summary>
        public InstanceChannel? Retire()
        {
            lock (_lock)
            {
                _retired = true;
                return _channel;
            }
        }
    }

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
