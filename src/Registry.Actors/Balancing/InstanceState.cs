namespace Registry.Balancing;

/// <summary>
/// What a balancer tracks about one instance: calls in flight and passive health. Kept across membership snapshots
/// while the instance stays registered at the same address, so counts and ejections survive unrelated changes.
/// </summary>
internal sealed class InstanceState(ServiceBalancer owner, ServiceInstance instance)
{
    /// <summary>The balancer whose health rules apply when a call on this instance ends.</summary>
    public readonly ServiceBalancer Owner = owner;

    /// <summary>The current registration; replaced in place (under the owner's lock) when only its value changed.</summary>
    public ServiceInstance Instance = instance;

    /// <summary>Calls picked and not yet ended; changed with <see cref="Interlocked"/> only.</summary>
    public int Outstanding;

    /// <summary>Failures since the last success; raised under the owner's lock, reset by a success without it.</summary>
    public int ConsecutiveFailures;

    /// <summary><see cref="TimeProvider.GetTimestamp"/> at which the ejection ends; 0 when not ejected. Written under the owner's lock.</summary>
    public long EjectedUntil;
}
