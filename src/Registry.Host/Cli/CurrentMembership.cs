namespace Registry.Host.Cli;

/// <summary>What a <see cref="MembershipChange"/> tells a consumer to do; printed lower-case in JSON lines.</summary>
internal enum MembershipChangeKind
{
    /// <summary>An instance found at start.</summary>
    Snapshot,

    /// <summary>An instance joined.</summary>
    Up,

    /// <summary>An instance left.</summary>
    Down,

    /// <summary>An instance's value changed.</summary>
    Update,
}

/// <summary>One line of <c>registry watch</c>: <paramref name="Previous"/> is set for an update.</summary>
internal sealed record MembershipChange(MembershipChangeKind Kind, ServiceInstance Instance, long Revision, ServiceInstance? Previous = null);

/// <summary>
/// The membership as <c>registry watch</c> printed it, keyed by service and id. Turns each membership event into the
/// lines that bring a consumer of the output from this view to the new one: the first snapshot as snapshot lines, a
/// later snapshot (a restarted watcher) as the exact difference, a change as itself. A change that would not follow
/// from the view (an up for a known instance, a down for an unknown one) is printed as what it does to the view, so
/// a consumer applying the lines in order always holds the current membership.
/// </summary>
internal sealed class CurrentMembership
{
    private static readonly Comparer<(string Service, string Id)> ByServiceThenId = Comparer<(string Service, string Id)>.Create((a, b) =>
        string.CompareOrdinal(a.Service, b.Service) is var byService and not 0 ? byService : string.CompareOrdinal(a.Id, b.Id));

    private readonly SortedDictionary<(string Service, string Id), ServiceInstance> _instances = new(ByServiceThenId);
    private bool _started;

    /// <summary>The instances in the view, ordered by service and id.</summary>
    public IReadOnlyCollection<ServiceInstance> Instances => _instances.Values;

    /// <summary>Applies <paramref name="e"/> and returns the lines to print, in order; none for a stale flag.</summary>
    public IReadOnlyList<MembershipChange> Apply(MembershipEvent e)
    {
        if (e is MembershipSnapshot snapshot) return _started ? Replace(snapshot) : Start(snapshot);
        // Before the first snapshot there is no view to change; the snapshot will hold the change.
        if (!_started) return [];
        return e switch
        {
            InstanceUp up => Put(up.Instance, up.Revision),
            InstanceUpdated updated => Put(updated.Instance, updated.Revision),
            InstanceDown down => Remove(down.Instance, down.Revision),
            _ => [],
        };
    }

    private List<MembershipChange> Start(MembershipSnapshot snapshot)
    {
        _started = true;
        foreach (var instance in snapshot.Instances) _instances[KeyOf(instance)] = instance;
        return _instances.Values.Select(i => new MembershipChange(MembershipChangeKind.Snapshot, i, snapshot.Revision)).ToList();
    }

    private List<MembershipChange> Replace(MembershipSnapshot snapshot)
    {
        var fresh = new SortedDictionary<(string Service, string Id), ServiceInstance>(ByServiceThenId);
        foreach (var instance in snapshot.Instances) fresh[KeyOf(instance)] = instance;
        var changes = new List<MembershipChange>();
        foreach (var (key, old) in _instances)
        {
            if (!fresh.ContainsKey(key)) changes.Add(new MembershipChange(MembershipChangeKind.Down, old, snapshot.Revision));
        }
        foreach (var (key, now) in fresh)
        {
            if (!_instances.TryGetValue(key, out var old)) changes.Add(new MembershipChange(MembershipChangeKind.Up, now, snapshot.Revision));
            else if (old != now) changes.Add(new MembershipChange(MembershipChangeKind.Update, now, snapshot.Revision, old));
        }
        _instances.Clear();
        foreach (var (key, instance) in fresh) _instances[key] = instance;
        return changes;
    }

    private List<MembershipChange> Put(ServiceInstance instance, long revision)
    {
        var key = KeyOf(instance);
        if (!_instances.TryGetValue(key, out var old))
        {
            _instances[key] = instance;
            return [new MembershipChange(MembershipChangeKind.Up, instance, revision)];
        }
        if (old == instance) return [];
        _instances[key] = instance;
        return [new MembershipChange(MembershipChangeKind.Update, instance, revision, old)];
    }

    private List<MembershipChange> Remove(ServiceInstance instance, long revision) =>
        _instances.Remove(KeyOf(instance), out var old) ? [new MembershipChange(MembershipChangeKind.Down, old, revision)] : [];

    private static (string Service, string Id) KeyOf(ServiceInstance instance) => (instance.Service, instance.Id);
}
