namespace Registry;

/// <summary>What happened to a registration.</summary>
public enum RegistrationEventKind
{
    /// <summary>The key was written, bound to a lease.</summary>
    Registered,

    /// <summary>
    /// A registration attempt did not get the key written (etcd did not answer, or the key changed under the write); it
    /// is retried with back-off until it does. The detail says why; only the first failure of a run is published.
    /// </summary>
    Delayed,

    /// <summary>A renewal failed; it is retried before the lease can expire.</summary>
    RenewFailed,

    /// <summary>Renewals succeed again after failures; the lease survived.</summary>
    Recovered,

    /// <summary>The lease is gone (expired during a cut, or lost by etcd); a new one is granted at once.</summary>
    LeaseLost,

    /// <summary>
    /// The key was written again after its lease or the key itself was lost, or after another value was written over it.
    /// </summary>
    Reregistered,

    /// <summary>A newer process registered the same id; this process stopped registering it.</summary>
    Conflict,

    /// <summary>
    /// Deregistered: the lease was revoked and the instance left the registry; or, with a detail saying so, the revoke
    /// failed (the key goes when its lease expires) or there was nothing left to revoke (after a conflict, or no lease was held yet).
    /// </summary>
    Deregistered,

    /// <summary>
    /// The registration's actor crashed; it is started again after a back-off and re-attaches to the lease it held (not
    /// renewed meanwhile), or registers anew if it held none. The next event says how that went.
    /// </summary>
    Restarting,
}

/// <summary>A change in one registration's state, published on the actor system's EventStream.</summary>
/// <param name="Kind">What happened.</param>
/// <param name="Instance">The instance concerned.</param>
/// <param name="Key">Its etcd key.</param>
/// <param name="LeaseId">The lease the key is (or was) bound to; 0 when none yet.</param>
/// <param name="Detail">Why, when there is more to say (the error of a failed attempt, the other lease of a conflict).</param>
public sealed record RegistrationEvent(RegistrationEventKind Kind, ServiceInstance Instance, string Key, long LeaseId, string? Detail = null);
