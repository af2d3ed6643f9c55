using System.Collections.Immutable;

namespace Registry;

/// <summary>
/// A change in the membership of one service, as a WatcherActor observed it in etcd. Sent to the service's direct
/// subscribers in the order it was observed, and published on the actor system's EventStream for every service someone
/// watches (once per change, whoever watches it; subscribers of <see cref="DiscoverySupervisor.AllServices"/> get
/// theirs directly). Revisions grow but for one case: after etcd came back without its data or from an older backup,
/// the difference is reported at etcd's new, lower revision. Apply events in order; do not drop one for its revision.
/// </summary>
/// <param name="Service">The service whose membership changed.</param>
/// <param name="Revision">The etcd revision the watcher's view is at after this event.</param>
public abstract record MembershipEvent(string Service, long Revision);

/// <summary>
/// The whole membership at <paramref name="Revision"/>; the first message a subscriber gets, but for a
/// <see cref="MembershipStale"/> while etcd cannot be read before the first listing.
/// </summary>
/// <param name="Service">The service.</param>
/// <param name="Instances">The live instances, ordered by id.</param>
/// <param name="Revision">The etcd revision the view is at.</param>
/// <param name="Stale">True while etcd is unreachable and this is the last known membership.</param>
public sealed record MembershipSnapshot(string Service, ImmutableArray<ServiceInstance> Instances, long Revision, bool Stale)
    : MembershipEvent(Service, Revision)
{
    /// <summary>Shows the instances' ids rather than the array's type name.</summary>
    protected override bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("Service = ").Append(Service).Append(", Instances = [").AppendJoin(", ", Instances.Select(i => i.Id))
            .Append("], Revision = ").Append(Revision).Append(", Stale = ").Append(Stale);
        return true;
    }
}

/// <summary>An instance joined.</summary>
public sealed record InstanceUp(string Service, ServiceInstance Instance, long Revision) : MembershipEvent(Service, Revision);

/// <summary>
/// An instance left: its key was deleted, its lease expired, or its key now holds a value that is skipped (not a valid
/// instance). <paramref name="Instance"/> is what it was.
/// </summary>
public sealed record InstanceDown(string Service, ServiceInstance Instance, long Revision) : MembershipEvent(Service, Revision);

/// <summary>An instance's value changed (address, weight, metadata…).</summary>
public sealed record InstanceUpdated(string Service, ServiceInstance Previous, ServiceInstance Instance, long Revision)
    : MembershipEvent(Service, Revision);

/// <summary>
/// The watcher lost (<paramref name="Stale"/> true) or regained its view of etcd. While stale, the last known
/// membership is kept, never emptied because etcd blinked.
/// </summary>
public sealed record MembershipStale(string Service, bool Stale, string? Reason, long Revision) : MembershipEvent(Service, Revision);
