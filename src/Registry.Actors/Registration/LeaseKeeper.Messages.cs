namespace Registry.Registration;

internal sealed partial class LeaseKeeper
{
    /// <summary>A renewal failed; renewals go on with back-off. Told once per run of failures.</summary>
    public sealed record RenewalFailing(long LeaseId, string Reason);

    /// <summary>Renewals succeed again after <paramref name="Failures"/> failed ones.</summary>
    public sealed record RenewalsRecovered(long LeaseId, int Failures);

    /// <summary>etcd no longer has the lease (it expired or was revoked); it is no longer kept.</summary>
    public sealed record LeaseExpired(long LeaseId);

    /// <summary>The key is gone while its lease lives; the lease is no longer kept.</summary>
    public sealed record KeyMissing(long LeaseId);

    /// <summary>
    /// The key holds another value than its owner wrote, still bound to the lease (written over with
    /// <c>etcdctl put --ignore-lease</c>, or by another writer reusing the lease); the lease is no longer kept.
    /// </summary>
    public sealed record KeyChanged(long LeaseId);

    /// <summary>The key is bound to <paramref name="OtherLeaseId"/> (0: written without a lease); the lease is no longer kept.</summary>
    public sealed record KeyTaken(long LeaseId, long OtherLeaseId);
}
