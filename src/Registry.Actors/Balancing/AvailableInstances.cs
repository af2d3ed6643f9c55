using System.Collections;
using Registry.Balancing;

namespace Registry;

/// <summary>
/// An immutable snapshot of the instances of one service that may be picked now (registered and not ejected),
/// ordered by id, with their live counts of outstanding calls. A new snapshot replaces it whenever the membership
/// or an ejection changes; policies may cache what they derive from one (a ring, a schedule) by reference.
/// </summary>
public sealed class AvailableInstances : IReadOnlyList<ServiceInstance>
{
    private readonly ServiceInstance[] _instances;
    private readonly CallTotal _total;
    private object? _prepared;

    internal AvailableInstances(string service, InstanceState[] states, CallTotal total, long version = 0)
    {
        Service = service;
        States = states;
        _total = total;
        Version = version;
        _instances = Array.ConvertAll(states, s => s.Instance);
    }

    /// <summary>The service the instances belong to.</summary>
    public string Service { get; }

    /// <summary>How many instances may be picked.</summary>
    public int Count => _instances.Length;

    /// <summary>The instance at <paramref name="index"/>.</summary>
    public ServiceInstance this[int index] => _instances[index];

    internal InstanceState[] States { get; }

    /// <summary>Grows with each snapshot a balancer builds: a later snapshot has a higher version.</summary>
    internal long Version { get; }

    /// <summary>
    /// What a built-in policy derived from this snapshot (a ring, a schedule): set as the balancer builds it, so a pick
    /// on a snapshot replaced meanwhile still finds its own and builds nothing.
    /// </summary>
    internal object? Prepared
    {
        get => Volatile.Read(ref _prepared);
        set => Volatile.Write(ref _prepared, value);
    }

    /// <summary>The calls to the instance at <paramref name="index"/> that were picked and have not ended yet.</summary>
    public int Outstanding(int index) => States[index].Outstanding;

    /// <summary>
    /// The calls to the balancer's available instances that were picked and have not ended yet: a running total, off by
    /// the calls starting or ending at this moment, and by those of a newer snapshot when this one has just been replaced.
    /// Kept for the <c>hash</c> policy only (0 with any other).
    /// </summary>
    internal long TotalOutstanding => Math.Max(0, Volatile.Read(ref _total.Value));

    /// <inheritdoc />
    public IEnumerator<ServiceInstance> GetEnumerator() => ((IEnumerable<ServiceInstance>)_instances).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
