namespace Registry.Balancing;

/// <summary>
/// A policy that derives a structure from each snapshot of available instances (a schedule, a ring). The balancer
/// prepares it as it builds the snapshot, under its lock, on the thread that changes the membership or ejects an
/// instance (when an ejection ends: the first pick after it), so the picks after a change do not each build it.
/// </summary>
internal interface IPreparedPolicy
{
    /// <summary>
    /// Derives what picks from <paramref name="instances"/> (never empty) will read, and keeps it on the snapshot
    /// (<see cref="AvailableInstances.Prepared"/>).
    /// </summary>
    void Prepare(AvailableInstances instances);
}
