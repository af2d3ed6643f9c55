namespace Registry.Etcd;

/// <summary>
/// The few etcd operations the actors need, in our own types. <see cref="EtcdStore"/> talks to etcd;
/// tests use a fake with the same semantics (revisions, leases, compaction). Any failure to reach etcd
/// surfaces as an exception; callers retry.
/// </summary>
internal interface IRegistryStore : IAsyncDisposable
{
    /// <summary>Grants a lease with the TTL in whole seconds.</summary>
    Task<LeaseGrant> GrantLeaseAsync(long ttlSeconds, CancellationToken ct);

    /// <summary>
    /// Renews a lease once over the shared keep-alive stream; returns the TTL it now has, 0 when the lease is gone. While
    /// it waits, a stream that answers nothing for <paramref name="patience"/> (the lease's renew interval; at most the
    /// call timeout counts) is taken as stuck and re-opened: a short lease cannot wait out the call timeout.
    /// </summary>
    Task<long> KeepAliveAsync(long leaseId, TimeSpan patience, CancellationToken ct);

    /// <summary>The remaining TTL of a lease in whole seconds (0 in its last second); -1 when the lease is gone.</summary>
    Task<long> TimeToLiveAsync(long leaseId, CancellationToken ct);

    /// <summary>Revokes a lease, deleting the keys bound to it; a lease already gone is not an error.</summary>
    Task RevokeLeaseAsync(long leaseId, CancellationToken ct);

    /// <summary>Reads one key; null when absent.</summary>
    Task<StoredValue?> GetAsync(string key, CancellationToken ct);

    /// <summary>
    /// Reads one key for a registration's periodic check of its own key; null when absent. Not urgent: an
    /// implementation may hold the read briefly to make many in one request. By default it is <see cref="GetAsync"/>.
    /// </summary>
    Task<StoredValue?> CheckKeyAsync(string key, CancellationToken ct) => GetAsync(key, ct);

    /// <summary>Lists every key under a prefix, with the store revision the listing was taken at.</summary>
    Task<Listing> ListAsync(string prefix, CancellationToken ct);

    /// <summary>
    /// Writes a key bound to a lease (0 = none) atomically, only if <paramref name="condition"/> holds (checked by etcd
    /// in the same request). Throws <see cref="LeaseNotFoundException"/> when the lease is gone.
    /// </summary>
    Task<PutOutcome> PutAsync(string key, byte[] value, long leaseId, PutCondition condition, CancellationToken ct);

    /// <summary>
    /// Deletes a key only if it exists bound to no lease (an outside write: no registration writes one), checked by etcd
    /// in the same request; true when it deleted it.
    /// </summary>
    Task<bool> DeleteUnleasedAsync(string key, CancellationToken ct);

    /// <summary>
    /// Watches a prefix from <paramref name="startRevision"/> (inclusive), with previous values and progress
    /// notifications. Throws <see cref="RevisionCompactedException"/> when that revision is compacted.
    /// </summary>
    IAsyncEnumerable<WatchBatch> WatchAsync(string prefix, long startRevision, CancellationToken ct);
}

/// <summary>A granted lease.</summary>
internal sealed record LeaseGrant(long LeaseId, long TtlSeconds);

/// <summary>One key as etcd stores it.</summary>
internal sealed record StoredValue(string Key, byte[] Value, long LeaseId, long CreateRevision, long ModRevision);

/// <summary>The keys under a prefix at one revision.</summary>
internal sealed record Listing(long Revision, IReadOnlyList<StoredValue> Values);

/// <summary>When a put may proceed.</summary>
internal abstract record PutCondition
{
    /// <summary>Write whatever is there (the previous value is returned).</summary>
    public static readonly PutCondition Always = new AlwaysCondition();

    /// <summary>Write only if the key does not exist.</summary>
    public static readonly PutCondition Absent = new AbsentCondition();

    /// <summary>Write only if the key exists and is bound to this lease (0: written without a lease).</summary>
    public static PutCondition BoundTo(long leaseId) => new LeaseCondition(leaseId);

    internal sealed record AlwaysCondition : PutCondition;
    internal sealed record AbsentCondition : PutCondition;
    internal sealed record LeaseCondition(long LeaseId) : PutCondition;
}

/// <summary>
/// The result of a conditional put: whether it was written, the revision after it, and the value the key
/// held before (on success) or holds now (on failure); null when there was none.
/// </summary>
internal sealed record PutOutcome(bool Succeeded, long Revision, StoredValue? Other);

/// <summary>What a watch event did to a key.</summary>
internal enum WatchEventKind { Put, Delete }

/// <summary>One change of a key; <see cref="Previous"/> is the value before it, when etcd still had it.</summary>
internal sealed record WatchEvent(WatchEventKind Kind, StoredValue Current, StoredValue? Previous);

/// <summary>
/// One watch response: its events (empty for a progress notification) and the store revision it reports,
/// which the watcher has fully seen once the batch is applied.
/// </summary>
internal sealed record WatchBatch(long Revision, IReadOnlyList<WatchEvent> Events);

/// <summary>etcd no longer has the lease a write was bound to (it expired or was revoked).</summary>
internal sealed class LeaseNotFoundException(long leaseId)
    : Exception($"lease {leaseId:x} not found: it expired or was revoked")
{
    /// <summary>The lease that is gone.</summary>
    public long LeaseId { get; } = leaseId;
}

/// <summary>The requested watch revision is older than the store's compaction point.</summary>
internal sealed class RevisionCompactedException(long compactRevision)
    : Exception($"revision compacted at {compactRevision}: re-list, then watch from the listing's revision")
{
    /// <summary>The compaction revision etcd reported.</summary>
    public long CompactRevision { get; } = compactRevision;
}
