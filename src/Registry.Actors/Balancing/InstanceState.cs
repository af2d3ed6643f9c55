namespace Registry.Balancing;

/// <summary>
/// What a balancer tracks about one instance: calls in flight and passive health. Kept across membership snapshots
/// while the instance stays registered at the same address, so counts and ejections survive unrelated changes.
/// </summary>
/// <remarks>
/// While the instance is available, its calls are also counted in the balancer's <see cref="CallTotal"/> when the
/// policy weighs it (bounded-load hashing). One word holds both the count of calls (low 32 bits, signed) and whether
/// they are counted in the total (<see cref="Counted"/>), so every start or end of a call sees, in the same atomic step
/// that changes the count, whether the total must follow; and joining or leaving the total moves exactly the calls in
/// flight at that step. Calls that start or end while the instance joins or leaves can therefore never make the total
/// drift.
/// </remarks>
internal sealed class InstanceState(ServiceBalancer owner, ServiceInstance instance, CallTotal total)
{
    private const long Counted = 1L << 32;

    /// <summary>The balancer whose health rules apply when a call on this instance ends.</summary>
    public readonly ServiceBalancer Owner = owner;

    /// <summary>The current registration; replaced in place (under the owner's lock) when only its value changed.</summary>
    public ServiceInstance Instance = instance;

    /// <summary>Failures since the last success (an ejection for timeouts counts one); written under the owner's lock.</summary>
    public int ConsecutiveFailures;

    /// <summary>Calls timed out since the last success or ejection; written under the owner's lock.</summary>
    public int ConsecutiveTimeouts;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> at which the ejection ends; 0 when not ejected. Written under the owner's lock.</summary>
    public long EjectedUntil;

    private readonly CallTotal _total = total;

    // Calls + (Counted when they are in _total). Changed with Interlocked only; the Counted part under the owner's lock.
    private long _calls;

    /// <summary>Calls picked and not yet ended.</summary>
    public int Outstanding => (int)Volatile.Read(ref _calls);

    /// <summary>True while this instance's calls are counted in the balancer's total.</summary>
    private bool IsCounted => IsCountedIn(Volatile.Read(ref _calls));

    /// <summary>A call on this instance starts.</summary>
    public void Begin()
    {
        if (IsCountedIn(Interlocked.Increment(ref _calls))) Interlocked.Increment(ref _total.Value);
    }

    /// <summary>A call on this instance ended.</summary>
    public void End()
    {
        if (IsCountedIn(Interlocked.Decrement(ref _calls))) Interlocked.Decrement(ref _total.Value);
    }

    /// <summary>Counts the calls in flight in the total from now on; under the owner's lock.</summary>
    public void Count()
    {
        if (IsCounted) return;
        Interlocked.Add(ref _total.Value, (int)Interlocked.Add(ref _calls, Counted));
    }

    /// <summary>Takes the calls in flight out of the total; under the owner's lock.</summary>
    public void Uncount()
    {
        if (!IsCounted) return;
        Interlocked.Add(ref _total.Value, -(int)Interlocked.Add(ref _calls, -Counted));
    }

    private static bool IsCountedIn(long calls) => calls - (int)calls != 0;
}

/// <summary>The calls in flight on a balancer's available instances, kept by their <see cref="InstanceState"/>s.</summary>
internal sealed class CallTotal
{
    /// <summary>The running total; changed with <see cref="Interlocked"/> only. Briefly off by the calls starting or ending at the moment.</summary>
    public long Value;
}
