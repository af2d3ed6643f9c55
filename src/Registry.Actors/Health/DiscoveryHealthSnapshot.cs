using System.Collections.Immutable;
using Registry.Discovery;

namespace Registry.Health;

/// <summary>Where the view of one watched service stands, as its last membership event tells.</summary>
/// <param name="Stale">True while its watcher cannot read etcd and serves the last known members.</param>
/// <param name="Reason">Why it is stale (a listing or the watch failed); null while live.</param>
internal sealed record ViewState(bool Stale, string? Reason)
{
    public static readonly ViewState Live = new(false, null);
}

/// <summary>
/// The view of every service watched in the actor system, by service: immutable, replaced as a whole on each change,
/// so a reader (the health check) needs no lock and no message round trip. The all-services watch publishes nothing
/// on the EventStream and is not part of it.
/// </summary>
internal sealed record DiscoveryHealthSnapshot(ImmutableSortedDictionary<string, ViewState> Services)
{
    public static readonly DiscoveryHealthSnapshot Empty = new(ImmutableSortedDictionary.Create<string, ViewState>(StringComparer.Ordinal));

    /// <summary>
    /// The snapshot after <paramref name="e"/>: a <see cref="MembershipStale"/> sets the service's view stale or live,
    /// a <see cref="MembershipSnapshot"/> (a watcher's first listing, also after a restart) sets it as the snapshot is.
    /// </summary>
    public DiscoveryHealthSnapshot Apply(MembershipEvent e) => e switch
    {
        MembershipStale { Stale: true } stale => Set(stale.Service, new ViewState(true, stale.Reason)),
        MembershipSnapshot { Stale: true } snapshot => Set(snapshot.Service, new ViewState(true, Services.GetValueOrDefault(snapshot.Service)?.Reason)),
        MembershipStale or MembershipSnapshot => Set(e.Service, ViewState.Live),
        _ => this,
    };

    /// <summary>The snapshot after the watcher of <paramref name="e"/>'s service stopped: the service is forgotten.</summary>
    public DiscoveryHealthSnapshot Apply(WatcherStopped e) => Services.ContainsKey(e.Service) ? new(Services.Remove(e.Service)) : this;

    private DiscoveryHealthSnapshot Set(string service, ViewState state) =>
        Services.TryGetValue(service, out var current) && current == state ? this : new(Services.SetItem(service, state));
}
