using System.Diagnostics;
using System.Runtime.CompilerServices;
using Registry.Etcd;

namespace Registry.Tests.Fakes;

/// <summary>The store calls <see cref="FakeRegistryStore.Calls"/> counts.</summary>
internal enum StoreOperation { GrantLease, KeepAlive, TimeToLive, RevokeLease, Get, List, Put, Delete, Watch }

/// <summary>A call the fake failed on purpose, as a real client fails when it cannot reach etcd.</summary>
internal sealed class StoreUnavailableException(string message) : Exception(message);

/// <summary>
/// An in-memory <see cref="IRegistryStore"/> with etcd's semantics (revisions, leases, watch history, compaction)
/// for unit simulations. Time and faults are driven by the test; only the optional progress notifications
/// (<see cref="ProgressInterval"/>) and call timeouts (<see cref="CallTimeout"/>) follow the wall clock.
/// <para>
/// An instance is one client's connection to a simulated etcd. <see cref="Connect"/> opens another connection to
/// the same data with its own faults and call counters, so a test can cut one process off while the others still
/// see etcd. Members that drive or inspect etcd itself (clock, leases, compaction, progress) act on the shared data
/// and ignore faults.
/// </para>
/// </summary>
internal sealed class FakeRegistryStore : IRegistryStore
{
    public const string UnavailableMessage = "etcd unavailable (simulated)";
    public const string KeepAliveFailedMessage = "etcd keep-alive failed (simulated)";
    public const string DeadlineMessage = "deadline exceeded on a hung connection (simulated)";

    /// <summary>etcd's minimum lease TTL with default timing; its lessor raises shorter grants to it.</summary>
    public const long MinLeaseTtlSeconds = 2;

    private const string WatchBrokenMessage = "etcd watch stream broken (simulated)";

    private readonly EtcdServer _etcd;
    private readonly int[] _calls = new int[Enum.GetValues<StoreOperation>().Length];

    // Guarded by _etcd.Gate, so a call sees a fault change atomically with the data.
    private CallFault _fault;
    private bool _keepAlivesFail;
    private bool _disposed;

    public FakeRegistryStore() : this(new EtcdServer()) { }

    private FakeRegistryStore(EtcdServer etcd) => _etcd = etcd;

    private enum CallFault { None, Unavailable, Hang }

    /// <summary>
    /// How often a watch of this connection with nothing to deliver sends a progress notification (an empty batch at
    /// the current revision), as etcd answers the progress requests the registry's watches send; null: only on
    /// <see cref="NotifyProgress"/>. A hung connection sends none.
    /// </summary>
    public TimeSpan? ProgressInterval { get; set; }

    /// <summary>
    /// How long a call (not a watch) waits on a hung connection before it fails with <see cref="DeadlineMessage"/>, as
    /// the real store's calls and renewals fail after <c>registry.etcd.call-timeout</c>; null: until <see cref="Heal"/>
    /// or cancellation. Measured on the wall clock.
    /// </summary>
    public TimeSpan? CallTimeout { get; set; }

    /// <summary>
    /// Watches of this connection are served by a member stuck behind the cluster (a slow disk, an apply backlog) that
    /// still has a leader: each is created at a revision below the one asked for, and delivers nothing after that.
    /// </summary>
    public bool WatchesBehind { get; set; }

    /// <summary>Opens another client connection to the same simulated etcd, with its own faults and counters.</summary>
    public FakeRegistryStore Connect() => new(_etcd);

    public Task<LeaseGrant> GrantLeaseAsync(long ttlSeconds, CancellationToken ct) =>
        CallAsync(StoreOperation.GrantLease, ct, () => _etcd.Grant(ttlSeconds));

    /// <summary>The patience the last keep-alive was asked with; the fake has no stream to be patient with.</summary>
    public TimeSpan? LastKeepAlivePatience { get; private set; }

    public Task<long> KeepAliveAsync(long leaseId, TimeSpan patience, CancellationToken ct)
    {
        LastKeepAlivePatience = patience;
        return CallAsync(StoreOperation.KeepAlive, ct, () => _keepAlivesFail
            ? throw new StoreUnavailableException(KeepAliveFailedMessage)
            : _etcd.KeepAlive(leaseId));
    }

    public Task<long> TimeToLiveAsync(long leaseId, CancellationToken ct) =>
        CallAsync(StoreOperation.TimeToLive, ct, () => _etcd.TimeToLive(leaseId));

    public Task RevokeLeaseAsync(long leaseId, CancellationToken ct) =>
        CallAsync(StoreOperation.RevokeLease, ct, () => _etcd.RemoveLease(leaseId));

    public Task<StoredValue?> GetAsync(string key, CancellationToken ct) =>
        CallAsync(StoreOperation.Get, ct, () => _etcd.Get(key));

    public Task<Listing> ListAsync(string prefix, CancellationToken ct) =>
        CallAsync(StoreOperation.List, ct, () => _etcd.List(prefix));

    public Task<PutOutcome> PutAsync(string key, byte[] value, long leaseId, PutCondition condition, CancellationToken ct) =>
        CallAsync(StoreOperation.Put, ct, () => _etcd.Put(key, value, leaseId, condition));

    public Task<bool> DeleteAsync(string key, CancellationToken ct) =>
        CallAsync(StoreOperation.Delete, ct, () => _etcd.Delete(key));

    public Task<bool> DeleteUnleasedAsync(string key, CancellationToken ct) =>
        CallAsync(StoreOperation.Delete, ct, () => _etcd.DeleteUnleased(key));

    public async IAsyncEnumerable<WatchBatch> WatchAsync(
        string prefix, long startRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        if (WatchesBehind)
        {
            yield return new WatchBatch(await CallAsync(StoreOperation.Watch, ct, () => startRevision - 1, deadline: false), []);
            await Task.Delay(Timeout.Infinite, ct);
        }
        var watch = await CallAsync(StoreOperation.Watch, ct, () => _etcd.OpenWatch(this, prefix, startRevision), deadline: false);
        try
        {
            while (await NextBatchAsync(watch, ct) is { } batch)
            {
                yield return batch;
            }
        }
        finally
        {
            lock (_etcd.Gate)
            {
                _etcd.Watches.Remove(watch);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        lock (_etcd.Gate)
        {
            _disposed = true;
            _etcd.EndWatches(this, () => new ObjectDisposedException(nameof(FakeRegistryStore)));
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// Awaited before each call of this connection is served: another client acting between its requests, or a call
    /// held in flight.
    /// </summary>
    public Func<StoreOperation, Task>? BeforeCall { get; set; }

    /// <summary>
    /// Awaited after each call of this connection was served, before its answer is returned: an answer still on the
    /// wire, which arrives whatever its caller did meanwhile.
    /// </summary>
    public Func<StoreOperation, Task>? AfterCall { get; set; }

    /// <summary>How many times this connection was asked for <paramref name="operation"/>, failed calls included.</summary>
    public int Calls(StoreOperation operation) => Volatile.Read(ref _calls[(int)operation]);

    /// <summary>Watches of this connection that are still open.</summary>
    public int OpenWatches
    {
        get { lock (_etcd.Gate) return _etcd.Watches.Count(w => w.Owner == this); }
    }

    /// <summary>
    /// Every call fails with <see cref="StoreUnavailableException"/> and open watches break with it, as when
    /// connections are refused or reset. Lasts until <see cref="Heal"/>.
    /// </summary>
    public void MakeUnavailable()
    {
        lock (_etcd.Gate)
        {
            _fault = CallFault.Unavailable;
            _etcd.EndWatches(this, () => new StoreUnavailableException(UnavailableMessage));
        }
    }

    /// <summary>
    /// Calls wait until <see cref="Heal"/>, their cancellation or <see cref="CallTimeout"/>, and open watches hold their
    /// responses back meanwhile, as when packets are held.
    /// </summary>
    public void Hang()
    {
        lock (_etcd.Gate)
        {
            _fault = CallFault.Hang;
        }
    }

    /// <summary>Only <see cref="KeepAliveAsync"/> fails, as with a broken keep-alive stream; the lease keeps ageing.</summary>
    public void FailKeepAlives()
    {
        lock (_etcd.Gate)
        {
            _keepAlivesFail = true;
        }
    }

    /// <summary>Clears every fault of this connection; hung calls proceed and held watch responses flow.</summary>
    public void Heal()
    {
        lock (_etcd.Gate)
        {
            _fault = CallFault.None;
            _keepAlivesFail = false;
            _etcd.Pulse();
        }
    }

    /// <summary>Open watches throw <see cref="StoreUnavailableException"/>, losing the responses they had not delivered.</summary>
    public void BreakWatches()
    {
        lock (_etcd.Gate)
        {
            _etcd.EndWatches(this, () => new StoreUnavailableException(WatchBrokenMessage));
        }
    }

    /// <summary>Open watches end without an error, as a stream the server closes quietly.</summary>
    public void CloseWatches()
    {
        lock (_etcd.Gate)
        {
            _etcd.EndWatches(this, failure: null);
        }
    }

    /// <summary>The current store revision.</summary>
    public long Revision
    {
        get { lock (_etcd.Gate) return _etcd.Revision; }
    }

    /// <summary>The revision of the last compaction, 0 before any.</summary>
    public long CompactRevision
    {
        get { lock (_etcd.Gate) return _etcd.CompactRevision; }
    }

    /// <summary>The ids of the leases etcd holds, in ascending order.</summary>
    public IReadOnlyList<long> LiveLeases
    {
        get { lock (_etcd.Gate) return _etcd.LiveLeases(); }
    }

    /// <summary>Reads a key for an assertion: not counted and never failed by a fault.</summary>
    public StoredValue? Peek(string key)
    {
        lock (_etcd.Gate)
        {
            return _etcd.Get(key);
        }
    }

    /// <summary>Moves the manual clock on, expiring every lease not renewed within its TTL.</summary>
    public void AdvanceTime(TimeSpan by)
    {
        lock (_etcd.Gate)
        {
            _etcd.AdvanceTime(by);
        }
    }

    /// <summary>Expires a lease now, deleting its keys in one revision; false when etcd does not hold it.</summary>
    public bool ExpireLease(long leaseId)
    {
        lock (_etcd.Gate)
        {
            return _etcd.RemoveLease(leaseId);
        }
    }

    /// <summary>
    /// True to act as etcd without the fix of etcd-io/etcd#18089 (Debian's 3.4.23 among them) once it has restarted: a
    /// deletion at the compact revision is lost with the history before it, so a watch from that revision never sees
    /// it and is not cancelled either. Shared by every connection.
    /// </summary>
    public bool DropsDeletionAtCompactRevision
    {
        get { lock (_etcd.Gate) return _etcd.DropsDeletionAtCompactRevision; }
        set { lock (_etcd.Gate) _etcd.DropsDeletionAtCompactRevision = value; }
    }

    /// <summary>Drops the history before <paramref name="revision"/> and cancels the watches still behind it.</summary>
    public void Compact(long revision)
    {
        lock (_etcd.Gate)
        {
            _etcd.Compact(revision);
        }
    }

    /// <summary>
    /// etcd restarted with its data lost (no volume) or restored from an older backup: no key, no lease, no history,
    /// revision 1 again; every open watch, of every connection, breaks.
    /// </summary>
    public void LoseData()
    {
        lock (_etcd.Gate)
        {
            _etcd.LoseData();
        }
    }

    /// <summary>A copy of etcd's keys, leases, history and revision now, for <see cref="Restore"/>.</summary>
    public object Backup()
    {
        lock (_etcd.Gate)
        {
            return _etcd.Backup();
        }
    }

    /// <summary>
    /// etcd restored from <paramref name="backup"/>: its keys, leases (each with its full TTL again, as etcd refreshes
    /// them on taking the lead), history and revision come back; leases granted since are unknown; every open watch,
    /// of every connection, breaks. New leases get ids never used before.
    /// </summary>
    public void Restore(object backup)
    {
        lock (_etcd.Gate)
        {
            _etcd.Restore((EtcdServer.Snapshot)backup);
        }
    }

    /// <summary>
    /// Every open watch, of every connection, is sent again the events from <paramref name="revision"/> on, after those
    /// it has been sent already: etcd before 3.4.24 / 3.5.8 does so for a watcher it had to hold back
    /// (etcd-io/etcd#15248), Debian's 3.4.23 among them.
    /// </summary>
    public void ResendFrom(long revision)
    {
        lock (_etcd.Gate)
        {
            _etcd.ResendFrom(revision);
        }
    }

    /// <summary>Every open watch, of every connection, reports the current revision in an empty batch.</summary>
    public void NotifyProgress()
    {
        lock (_etcd.Gate)
        {
            _etcd.NotifyProgress();
        }
    }

    private async Task<T> CallAsync<T>(StoreOperation operation, CancellationToken ct, Func<T> call, bool deadline = true)
    {
        Interlocked.Increment(ref _calls[(int)operation]);
        if (BeforeCall is { } before) await before(operation);
        var answer = await ServeAsync(ct, call, deadline ? CallTimeout : null);
        if (AfterCall is { } after) await after(operation);
        return answer;
    }

    private async Task<T> ServeAsync<T>(CancellationToken ct, Func<T> call, TimeSpan? timeout)
    {
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            Task changed;
            lock (_etcd.Gate)
            {
                ObjectDisposedException.ThrowIf(_disposed, this);
                switch (_fault)
                {
                    case CallFault.None:
                        return call();
                    case CallFault.Unavailable:
                        throw new StoreUnavailableException(UnavailableMessage);
                }
                changed = _etcd.Changed;
            }
            if (timeout is not { } limit)
            {
                await changed.WaitAsync(ct);
                continue;
            }
            var left = limit - Stopwatch.GetElapsedTime(started);
            try
            {
                await changed.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero, ct);
            }
            catch (TimeoutException)
            {
                throw new StoreUnavailableException(DeadlineMessage);
            }
        }
    }

    /// <summary>The next response of a watch; null once the watch was closed without an error.</summary>
    private async Task<WatchBatch?> NextBatchAsync(Subscription watch, CancellationToken ct)
    {
        // A progress notification is due one interval after the last response, whatever else changes in the store.
        long? progressAt = null;
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            Task changed;
            lock (_etcd.Gate)
            {
                // An ended stream delivers nothing more, not even what it had queued, as with a reset connection.
                if (watch.Ended)
                {
                    return watch.Failure is null ? null : throw watch.Failure;
                }
                if (_fault != CallFault.Hang && watch.Pending.TryDequeue(out var batch))
                {
                    return _etcd.AsSent(batch);
                }
                if (_fault != CallFault.Hang && watch.Cancellation is { } cancelled)
                {
                    _etcd.Watches.Remove(watch);
                    throw cancelled;
                }
                changed = _etcd.Changed;
            }
            if (ProgressInterval is not { } every)
            {
                progressAt = null;
                await changed.WaitAsync(ct);
                continue;
            }
            progressAt ??= Stopwatch.GetTimestamp() + (long)(every.TotalSeconds * Stopwatch.Frequency);
            var left = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), progressAt.Value);
            if (left > TimeSpan.Zero)
            {
                try
                {
                    await changed.WaitAsync(left, ct);
                    continue;
                }
                catch (TimeoutException)
                {
                }
            }
            progressAt = null;
            lock (_etcd.Gate)
            {
                // As etcd since 3.4.25 / 3.5.8: progress only from a watch that has sent everything queued, so its
                // revision is never ahead of an event still to come.
                if (_fault == CallFault.None && !watch.Ended && watch.Pending.Count == 0 && watch.Cancellation is null)
                {
                    return new WatchBatch(_etcd.Revision, []);
                }
            }
        }
    }

    /// <summary>
    /// What etcd holds, shared by every connection: keys, leases, event history, open watches and the manual clock.
    /// Callers hold <see cref="Gate"/>.
    /// </summary>
    private sealed class EtcdServer
    {
        private readonly SortedDictionary<string, StoredValue> _keys = new(StringComparer.Ordinal);
        private readonly Dictionary<long, Lease> _leases = [];

        // Every event since the compaction point, in revision order: what a watch from an older revision replays.
        private readonly List<WatchEvent> _history = [];

        // Completed and replaced on every change, so whoever waits for data or a fault change re-checks.
        private TaskCompletionSource _changed = NewSignal();

        // Large like etcd's lease ids, so an id mixed up with a revision or a TTL stands out in an assertion.
        private long _nextLeaseId = 0x694D_0000_0001;
        private TimeSpan _now;

        public Lock Gate { get; } = new();

        public List<Subscription> Watches { get; } = [];

        /// <summary>An empty etcd is at revision 1; every transaction that changes a key adds one.</summary>
        public long Revision { get; private set; } = 1;

        public long CompactRevision { get; private set; }

        public bool DropsDeletionAtCompactRevision { get; set; }

        public Task Changed => _changed.Task;

        public void Pulse()
        {
            _changed.TrySetResult();
            _changed = NewSignal();
        }

        public LeaseGrant Grant(long ttlSeconds)
        {
            var id = _nextLeaseId++;
            var lease = new Lease(Math.Max(ttlSeconds, MinLeaseTtlSeconds), _now);
            _leases.Add(id, lease);
            return new LeaseGrant(id, lease.TtlSeconds);
        }

        public long KeepAlive(long leaseId)
        {
            if (!_leases.TryGetValue(leaseId, out var lease))
            {
                return 0;
            }
            lease.Renew(_now);
            return lease.TtlSeconds;
        }

        // etcd truncates the remaining time to whole seconds (int64(l.Remaining().Seconds())), so a live lease in
        // its last second reads 0, and it answers -1 for a lease it does not hold.
        public long TimeToLive(long leaseId) =>
            _leases.TryGetValue(leaseId, out var lease) ? (long)(lease.ExpiresAt - _now).TotalSeconds : -1;

        public IReadOnlyList<long> LiveLeases() => [.. _leases.Keys.Order()];

        public StoredValue? Get(string key) => _keys.GetValueOrDefault(key);

        public Listing List(string prefix) =>
            new(Revision, [.. _keys.Values.Where(v => v.Key.StartsWith(prefix, StringComparison.Ordinal))]);

        public PutOutcome Put(string key, byte[] value, long leaseId, PutCondition condition)
        {
            var current = _keys.GetValueOrDefault(key);
            if (!Holds(condition, current))
            {
                return new PutOutcome(false, Revision, current);
            }
            // etcd checks the lease of the branch the compare chose only (server/etcdserver/txn/txn.go, checkTxn),
            // so a failed compare never reports a missing lease.
            if (leaseId != 0 && !_leases.ContainsKey(leaseId))
            {
                throw new LeaseNotFoundException(leaseId);
            }
            var revision = ++Revision;
            var stored = new StoredValue(key, [.. value], leaseId, current?.CreateRevision ?? revision, revision);
            Detach(current);
            if (leaseId != 0)
            {
                _leases[leaseId].Keys.Add(key);
            }
            _keys[key] = stored;
            Publish(revision, [new WatchEvent(WatchEventKind.Put, stored, current)]);
            return new PutOutcome(true, revision, current);
        }

        public bool Delete(string key)
        {
            // Deleting nothing changes nothing, and etcd only adds a revision for a change.
            if (!_keys.TryGetValue(key, out var current))
            {
                return false;
            }
            var revision = ++Revision;
            Publish(revision, [Remove(current, revision)]);
            return true;
        }

        /// <summary>A delete on the condition that the key exists bound to no lease, as one transaction.</summary>
        public bool DeleteUnleased(string key) => _keys.TryGetValue(key, out var current) && current.LeaseId == 0 && Delete(key);

        /// <summary>Revocation or expiry: the lease's keys go in one transaction, so in one revision.</summary>
        public bool RemoveLease(long leaseId)
        {
            if (!_leases.Remove(leaseId, out var lease))
            {
                return false;
            }
            if (lease.Keys.Count > 0)
            {
                var revision = ++Revision;
                // In key order, as etcd's lessor sorts them before deleting.
                Publish(revision, [.. lease.Keys.Order(StringComparer.Ordinal).Select(key => Remove(_keys[key], revision))]);
            }
            return true;
        }

        public void AdvanceTime(TimeSpan by)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(by, TimeSpan.Zero);
            _now += by;
            var expired = _leases
                .Where(l => l.Value.ExpiresAt <= _now)
                .OrderBy(l => l.Value.ExpiresAt)
                .ThenBy(l => l.Key)
                .Select(l => l.Key)
                .ToList();
            foreach (var leaseId in expired)
            {
                RemoveLease(leaseId);
            }
        }

        public Subscription OpenWatch(FakeRegistryStore owner, string prefix, long startRevision)
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(startRevision, 1);
            var watch = new Subscription(owner, prefix, startRevision);
            // etcd answers a watch creation first with an empty "created" response, which EtcdStore passes on as
            // an empty batch: proof the stream is open.
            watch.Pending.Enqueue(new WatchBatch(Revision, []));
            // It cancels a watcher that starts below the compact revision only after that, when it first tries to
            // catch it up, and still serves the compact revision itself: server/storage/mvcc/watcher_group.go
            // chooseAll, `if w.minRev < compactRev`; since etcd PR #18274 even a deletion at that revision is kept.
            if (startRevision < CompactRevision)
            {
                watch.Cancel(new RevisionCompactedException(CompactRevision));
                Watches.Add(watch);
                return watch;
            }
            // History goes out in one response that reports the current revision, as etcd's syncWatchers sends it.
            List<WatchEvent> replay = [.. _history.Where(watch.Wants)];
            if (replay.Count > 0)
            {
                watch.Pending.Enqueue(new WatchBatch(Revision, replay));
            }
            Watches.Add(watch);
            return watch;
        }

        public void Compact(long revision)
        {
            // etcd refuses to compact at or below the last compaction (ErrCompacted) or beyond the present (ErrFutureRev).
            ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(revision, CompactRevision);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(revision, Revision);
            CompactRevision = revision;
            _history.RemoveAll(e => e.Current.ModRevision < revision
                || (DropsDeletionAtCompactRevision && e.Kind == WatchEventKind.Delete && e.Current.ModRevision == revision));
            // Undelivered responses stand for etcd's send buffers: a watch whose consumer has not taken events older
            // than the compaction is a slow watcher, which etcd cancels with the compact revision.
            foreach (var watch in Watches.Where(w => w.HasPendingBefore(revision)).ToList())
            {
                End(watch, new RevisionCompactedException(revision));
            }
            Pulse();
        }

        public void LoseData()
        {
            foreach (var watch in Watches.ToList())
            {
                End(watch, new StoreUnavailableException("etcd restarted (simulated)"));
            }
            _keys.Clear();
            _leases.Clear();
            _history.Clear();
            Revision = 1;
            CompactRevision = 0;
            Pulse();
        }

        public Snapshot Backup() => new(
            new SortedDictionary<string, StoredValue>(_keys, StringComparer.Ordinal),
            _leases.ToDictionary(l => l.Key, l => (l.Value.TtlSeconds, Keys: l.Value.Keys.ToArray())),
            [.. _history], Revision, CompactRevision);

        public void Restore(Snapshot backup)
        {
            LoseData();
            foreach (var (key, value) in backup.Keys) _keys.Add(key, value);
            foreach (var (id, (ttl, keys)) in backup.Leases)
            {
                var lease = new Lease(ttl, _now);
                lease.Keys.UnionWith(keys);
                _leases.Add(id, lease);
            }
            _history.AddRange(backup.History);
            Revision = backup.Revision;
            CompactRevision = backup.CompactRevision;
            Pulse();
        }

        /// <summary>What <see cref="Backup"/> copies.</summary>
        public sealed record Snapshot(
            SortedDictionary<string, StoredValue> Keys,
            Dictionary<long, (long TtlSeconds, string[] Keys)> Leases,
            List<WatchEvent> History,
            long Revision,
            long CompactRevision);

        public void ResendFrom(long revision)
        {
            foreach (var watch in Watches.Where(w => w.Cancellation is null))
            {
                List<WatchEvent> again = [.. _history.Where(e => e.Current.ModRevision >= revision && watch.Wants(e))];
                if (again.Count > 0) watch.Pending.Enqueue(new WatchBatch(Revision, again));
            }
            Pulse();
        }

        public void NotifyProgress()
        {
            foreach (var watch in Watches.Where(w => w.Cancellation is null))
            {
                watch.Pending.Enqueue(new WatchBatch(Revision, []));
            }
            Pulse();
        }

        public void EndWatches(FakeRegistryStore owner, Func<Exception>? failure)
        {
            foreach (var watch in Watches.Where(w => w.Owner == owner).ToList())
            {
                End(watch, failure?.Invoke());
            }
            Pulse();
        }

        private static TaskCompletionSource NewSignal() =>
            // Waiters must not resume inline while the signalling thread holds the gate.
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        private static bool Holds(PutCondition condition, StoredValue? current) => condition switch
        {
            PutCondition.AlwaysCondition => true,
            PutCondition.AbsentCondition => current is null,
            // etcd compares a missing key as lease 0; "bound to" also means the key exists.
            PutCondition.LeaseCondition bound => current is not null && current.LeaseId == bound.LeaseId,
            _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, "unknown put condition"),
        };

        private WatchEvent Remove(StoredValue current, long revision)
        {
            _keys.Remove(current.Key);
            Detach(current);
            // etcd's delete event carries only the key and the revision of the deletion.
            return new WatchEvent(WatchEventKind.Delete, new StoredValue(current.Key, [], 0, 0, revision), current);
        }

        private void Detach(StoredValue? value)
        {
            if (value is { LeaseId: not 0 } && _leases.TryGetValue(value.LeaseId, out var lease))
            {
                lease.Keys.Remove(value.Key);
            }
        }

        private void Publish(long revision, IReadOnlyList<WatchEvent> events)
        {
            _history.AddRange(events);
            foreach (var watch in Watches)
            {
                List<WatchEvent> wanted = [.. events.Where(watch.Wants)];
                if (wanted.Count > 0)
                {
                    watch.Pending.Enqueue(new WatchBatch(revision, wanted));
                }
            }
            Pulse();
        }

        /// <summary>
        /// <paramref name="batch"/> as it goes out: etcd reads an event's previous value at ModRevision - 1 when it
        /// sends it (api/v3rpc/watch.go sendLoop); once that revision is compacted the read fails and the event goes
        /// out without it, queued before the compaction or not.
        /// </summary>
        public WatchBatch AsSent(WatchBatch batch) =>
            batch.Events.Any(e => e.Previous is not null && e.Current.ModRevision - 1 < CompactRevision)
                ? batch with { Events = [.. batch.Events.Select(e => e.Current.ModRevision - 1 < CompactRevision ? e with { Previous = null } : e)] }
                : batch;

        private void End(Subscription watch, Exception? failure)
        {
            watch.End(failure);
            Watches.Remove(watch);
        }
    }

    private sealed class Lease
    {
        public Lease(long ttlSeconds, TimeSpan now)
        {
            TtlSeconds = ttlSeconds;
            Renew(now);
        }

        public long TtlSeconds { get; }

        public HashSet<string> Keys { get; } = new(StringComparer.Ordinal);

        public TimeSpan ExpiresAt { get; private set; }

        public void Renew(TimeSpan now) => ExpiresAt = now + TimeSpan.FromSeconds(TtlSeconds);
    }

    /// <summary>One open watch: its filter and the responses produced for it that its consumer has not taken yet.</summary>
    private sealed class Subscription(FakeRegistryStore owner, string prefix, long startRevision)
    {
        public FakeRegistryStore Owner { get; } = owner;

        public Queue<WatchBatch> Pending { get; } = new();

        public bool Ended { get; private set; }

        /// <summary>Set when etcd cancels the watch once its queued responses are delivered.</summary>
        public Exception? Cancellation { get; private set; }

        public Exception? Failure { get; private set; }

        public bool Wants(WatchEvent e) =>
            Cancellation is null && e.Current.ModRevision >= startRevision && e.Current.Key.StartsWith(prefix, StringComparison.Ordinal);

        public bool HasPendingBefore(long revision) =>
            Pending.Any(b => b.Events.Any(e => e.Current.ModRevision < revision));

        public void Cancel(Exception reason) => Cancellation = reason;

        public void End(Exception? failure)
        {
            Ended = true;
            Failure = failure;
        }
    }
}
