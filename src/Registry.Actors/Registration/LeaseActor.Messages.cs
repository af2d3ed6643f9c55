namespace Registry.Registration;

internal sealed partial class LeaseActor
{
    /// <summary>
    /// Told to the parent, as the actor, whenever the key is bound to a (new) lease, so a restart can re-attach to it:
    /// before the write with a lease just granted, and once the key is written, with the registration's age
    /// (<paramref name="RegisteredSince"/>, the earliest <c>registeredAt</c> it wrote): after that a restart no longer takes
    /// the key over, and weighs a registration found on another lease against that age.
    /// </summary>
    public sealed record Attached(string Key, long LeaseId, DateTimeOffset? RegisteredSince = null);

    /// <summary>
    /// From the parent: a crashed predecessor reported <paramref name="LeaseId"/> after this actor started. The lease was
    /// this registration's, so a key found on it is its own.
    /// </summary>
    public sealed record HeldBefore(long LeaseId);

    /// <summary>
    /// Told to the parent before a deliberate stop (deregistered, or <paramref name="Conflict"/>: a newer process took
    /// the id), so it does not restart the actor.
    /// </summary>
    public sealed record Stopping(string Key, bool Conflict = false);

    private sealed record Acquire;

    /// <summary>
    /// The key is bound to <paramref name="LeaseId"/>, holding <paramref name="Value"/>, the encoding of
    /// <paramref name="Written"/>. <paramref name="GrantedAt"/> is when the attempt asked for that lease
    /// (<see cref="LeaseKeeper.Now"/>); null when the lease was held before the attempt, so it is renewed at once.
    /// </summary>
    private sealed record Acquired(long LeaseId, ServiceInstance Written, byte[] Value, string? Detail, long? GrantedAt);

    private sealed record AcquireFailed(string Reason, long LeaseToReuse);

    /// <summary>
    /// The key is bound to <paramref name="OtherLeaseId"/>. <paramref name="OwnLeaseId"/> is the lease the attempt held
    /// or granted (0 for none): it holds no key, and is revoked.
    /// </summary>
    private sealed record Conflicted(long OtherLeaseId, long OwnLeaseId);

    /// <summary>
    /// The key was <paramref name="Found"/> between the attempt's read and its write, by a writer the read would have
    /// taken it back from: tried again at once, as the next read takes it back. <paramref name="LeaseToReuse"/> is the
    /// lease the attempt held or granted.
    /// </summary>
    private sealed record TakeBack(long LeaseToReuse, string Found);

    /// <summary>The lease the actor meant to keep using no longer exists in etcd.</summary>
    private sealed record LeaseGone(long LeaseId);

    private sealed record Revoked(string? Failure);
}
