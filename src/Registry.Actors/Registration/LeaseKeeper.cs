using Akka.Actor;
using Registry.Etcd;

namespace Registry.Registration;

/// <summary>
/// Renews the leases of every registration of one registry and checks that each key still holds the value its owner
/// wrote, bound to its lease, from one table on one timer: while all is well a lease costs no timer and no actor
/// message of its own. The owning LeaseActor hears only of a change: renewals failing (they are retried with
/// back-off, well before the lease can expire), renewals recovering, the lease gone, the key missing, holding another
/// value or bound to another lease. After the last three a lease is no longer kept: its actor acquires again and keeps
/// the lease anew.
/// </summary>
/// <remarks>
/// Renewals and checks falling due close together are sent together, and none is sent late for it: a run also sends
/// whatever falls due within the next tenth of its interval (<see cref="EarlyShare"/>). Those then fall due together
/// again, so 10,000 leases renewed every 2.5 s settle into a few runs a second, each a burst of keep-alives that goes
/// out in a few writes; runs at most every 50 ms that sent only what was due cost more CPU (docs/performance.md).
/// </remarks>
internal sealed partial class LeaseKeeper : IDisposable
{
    /// <summary>A renewal or check is sent at most its interval divided by this before it falls due.</summary>
    private const int EarlyShare = 10;

    private readonly IRegistryStore _store;
    private readonly RegistrySettings _settings;
    private readonly object _gate = new();
    private readonly Dictionary<long, Kept> _kept = new();
    private readonly PriorityQueue<Due, long> _due = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly TimeProvider _time;
    private readonly ITimer _timer;
    private readonly Action<Task<long>, object?> _renewed;
    private readonly Action<Task<StoredValue?>, object?> _checked;
    private long _armedFor = long.MaxValue;

    /// <param name="store">Where leases are renewed and keys read.</param>
    /// <param name="settings">Renewal and check intervals, retry back-off.</param>
    /// <param name="time">The clock and timer; the system's by default.</param>
    public LeaseKeeper(IRegistryStore store, RegistrySettings settings, TimeProvider? time = null)
    {
        _store = store;
        _settings = settings;
        _time = time ?? TimeProvider.System;
        _timer = _time.CreateTimer(_ => Run(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        _renewed = (task, kept) => OnRenewed(task, (Kept)kept!);
        _checked = (task, kept) => OnChecked(task, (Kept)kept!);
    }

    /// <summary>The keeper's clock, in which <see cref="Keep"/> takes a grant's time.</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>
    /// Keeps <paramref name="leaseId"/> alive for <paramref name="owner"/> and checks that <paramref name="key"/> stays
    /// bound to it, holding <paramref name="value"/> (compared as bytes, never decoded). The first renewal falls due one
    /// renewal interval after <paramref name="grantedAt"/> (a <see cref="Now"/> timestamp taken before the grant was
    /// asked for: the TTL runs from the grant, not from the write after it), at once if that has passed; at once when it
    /// is null (a lease granted earlier that nobody renewed meanwhile).
    /// </summary>
    public void Keep(long leaseId, string key, byte[] value, long ttlSeconds, IActorRef owner, long? grantedAt)
    {
        var now = _time.GetTimestamp();
        var renewInterval = _settings.RenewIntervalFor(ttlSeconds);
        var kept = new Kept(leaseId, key, value, owner, renewInterval, Ticks(renewInterval), Ticks(_settings.KeyCheckIntervalFor(ttlSeconds)));
        lock (_gate)
        {
            _kept[leaseId] = kept;
            // A forgotten lease's entries leave the queue only as they fall due, a check up to its interval (1 h at most)
            // later: leases kept again and again (a value updated many times a second) would pile them up. Dropped in
            // one pass once they outnumber the live ones (two per lease) well.
            if (_due.Count > 4 * _kept.Count + 64) DropStale();
            Schedule(new Due(kept, IsCheck: false), grantedAt is { } granted ? granted + kept.RenewTicks : now);
            ScheduleCheck(kept, now + kept.CheckTicks, kept.CheckGeneration);
        }
    }

    /// <summary>How many renewals and checks are queued, stale ones included.</summary>
    internal int Queued
    {
        get
        {
            lock (_gate) return _due.Count;
        }
    }

    /// <summary>Stops keeping <paramref name="leaseId"/> for <paramref name="owner"/>; answers still in flight are dropped.</summary>
    public void Forget(long leaseId, IActorRef owner)
    {
        lock (_gate)
        {
            if (_kept.TryGetValue(leaseId, out var kept) && kept.Owner.Equals(owner)) _kept.Remove(leaseId);
        }
    }

    /// <summary>The timer: sends every renewal and check that is due or nearly due, then arms itself for the next one.</summary>
    private void Run()
    {
        var now = _time.GetTimestamp();
        List<Due>? due = null;
        lock (_gate)
        {
            _armedFor = long.MaxValue;
            while (_due.TryPeek(out var item, out var at) && at <= now + item.EarlyTicks)
            {
                _due.Dequeue();
                if (!IsCurrent(item.Kept)) continue;
                if (item.IsCheck)
                {
                    // A check moved earlier (after a recovery) leaves its old entry behind.
                    if (item.Generation != item.Kept.CheckGeneration) continue;
                    item.Kept.Checking = true;
                }
                else
                {
                    item.Kept.RenewSentAt = now;
                }
                (due ??= []).Add(item);
            }
            if (_due.TryPeek(out _, out var next)) Arm(next, now);
        }
        if (due is null || _disposed.IsCancellationRequested) return;
        foreach (var (kept, isCheck, _) in due)
        {
            if (isCheck)
                _store.CheckKeyAsync(kept.Key, _disposed.Token)
                    .ContinueWith(_checked, kept, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            else
                _store.KeepAliveAsync(kept.LeaseId, kept.RenewInterval, _disposed.Token)
                    .ContinueWith(_renewed, kept, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private void OnRenewed(Task<long> renewal, Kept kept)
    {
        object? news = null;
        var now = _time.GetTimestamp();
        lock (_gate)
        {
            if (!IsCurrent(kept) || _disposed.IsCancellationRequested) return;
            if (renewal.IsCompletedSuccessfully && renewal.Result <= 0)
            {
                _kept.Remove(kept.LeaseId);
                news = new LeaseExpired(kept.LeaseId);
            }
            else if (renewal.IsCompletedSuccessfully)
            {
                if (kept.Failures > 0)
                {
                    news = new RenewalsRecovered(kept.LeaseId, kept.Failures);
                    kept.Failures = 0;
                    // Whatever happened to the key while renewals failed, look at once: the check queued for later
                    // moves here; one in flight (sent during the outage) is followed by another at once.
                    if (kept.Checking) kept.RecheckAtOnce = true;
                    else ScheduleCheck(kept, now, ++kept.CheckGeneration);
                }
                // One interval after it was sent, not after its answer came: etcd renewed the lease in between, and a
                // slow answer must not stretch the gap between renewals past the TTL. After an answer slower than the
                // interval, a quarter of it, so a slow etcd does not get renewals back to back.
                Schedule(new Due(kept, IsCheck: false), Math.Max(now + kept.RenewTicks / 4, kept.RenewSentAt + kept.RenewTicks));
            }
            else
            {
                if (kept.Failures++ == 0) news = new RenewalFailing(kept.LeaseId, EtcdErrors.Describe(renewal.Exception?.GetBaseException() ?? new OperationCanceledException()));
                // At most a quarter of the renew interval: a retry rides the shared keep-alive stream (one message, no
                // load to spare etcd), and after a cut the lease has little time left, which a back-off still climbing
                // when the cut heals would spend (a cut of 1.5 s can leave 0.75 s of a 3 s lease; a retry could wait 625 ms).
                Schedule(new Due(kept, IsCheck: false), now + Math.Min(Ticks(_settings.Retry.Delay(kept.Failures - 1)), kept.RenewTicks / 4));
            }
            // Told under the lock (a Tell only enqueues): the news of two answers on two threads reaches the owner in
            // the order they were decided, so a recovery is never followed by the failure it ended.
            if (news is not null) kept.Owner.Tell(news);
        }
    }

    private void OnChecked(Task<StoredValue?> check, Kept kept)
    {
        lock (_gate)
        {
            kept.Checking = false;
            var atOnce = kept.RecheckAtOnce;
            kept.RecheckAtOnce = false;
            if (!IsCurrent(kept) || _disposed.IsCancellationRequested) return;
            // A failed read says nothing about the key; renewals report connectivity, so it counts as unchanged.
            var news = check.IsCompletedSuccessfully ? Change(kept, check.Result) : null;
            if (news is null) ScheduleCheck(kept, _time.GetTimestamp() + (atOnce ? 0 : kept.CheckTicks), kept.CheckGeneration);
            else
            {
                _kept.Remove(kept.LeaseId);
                kept.Owner.Tell(news);
            }
        }
    }

    /// <summary>What the check found changed in the key, null when nothing did.</summary>
    private static object? Change(Kept kept, StoredValue? stored) => stored switch
    {
        null => new KeyMissing(kept.LeaseId),
        { LeaseId: var other } when other != kept.LeaseId => new KeyTaken(kept.LeaseId, other),
        _ when !stored.Value.AsSpan().SequenceEqual(kept.Value) => new KeyChanged(kept.LeaseId),
        _ => null,
    };

    private bool IsCurrent(Kept kept) => _kept.TryGetValue(kept.LeaseId, out var current) && ReferenceEquals(current, kept);

    /// <summary>Drops the queued renewals and checks a run would skip: of leases no longer kept, or checks moved earlier.</summary>
    private void DropStale()
    {
        var live = _due.UnorderedItems.Where(e => IsCurrent(e.Element.Kept) && (!e.Element.IsCheck || e.Element.Generation == e.Element.Kept.CheckGeneration)).ToList();
        _due.Clear();
        _due.EnqueueRange(live);
    }

    private void ScheduleCheck(Kept kept, long at, int generation) => Schedule(new Due(kept, IsCheck: true, generation), at);

    private void Schedule(Due item, long at)
    {
        _due.Enqueue(item, at);
        Arm(at, _time.GetTimestamp());
    }

    /// <summary>Makes the timer run at <paramref name="at"/> unless it already runs sooner.</summary>
    private void Arm(long at, long now)
    {
        if (at >= _armedFor || _disposed.IsCancellationRequested) return;
        _armedFor = at;
        // GetElapsedTime converts in floating point: timestamp span × TimeSpan.TicksPerSecond overflows a long beyond
        // ~15 minutes (the key check of a lease with a TTL over ~920 s).
        _timer.Change(_time.GetElapsedTime(now, Math.Max(now, at)), Timeout.InfiniteTimeSpan);
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    public void Dispose()
    {
        // Outside the lock: cancelling completes renewals in flight, whose continuations take it.
        _disposed.Cancel();
        lock (_gate)
        {
            _kept.Clear();
            _due.Clear();
        }
        _timer.Dispose();
    }

    /// <summary>
    /// One kept lease, with the key and value its owner wrote (guarded by the keeper's lock): <see cref="Failures"/>
    /// counts renewals failed in a row, <see cref="RenewSentAt"/> is when the last renewal went out; only the check of
    /// <see cref="CheckGeneration"/> is current, <see cref="Checking"/> while it is in flight, and followed by another at
    /// once when <see cref="RecheckAtOnce"/>.
    /// </summary>
    private sealed class Kept(long leaseId, string key, byte[] value, IActorRef owner, TimeSpan renewInterval, long renewTicks, long checkTicks)
    {
        public long LeaseId { get; } = leaseId;
        public string Key { get; } = key;
        public byte[] Value { get; } = value;
        public IActorRef Owner { get; } = owner;
        public TimeSpan RenewInterval { get; } = renewInterval;
        public long RenewTicks { get; } = renewTicks;
        public long CheckTicks { get; } = checkTicks;
        public int Failures { get; set; }
        public long RenewSentAt { get; set; }
        public int CheckGeneration { get; set; }
        public bool Checking { get; set; }
        public bool RecheckAtOnce { get; set; }
    }

    /// <summary>Something due for a kept lease: a renewal, or a check of its key of one generation.</summary>
    private readonly record struct Due(Kept Kept, bool IsCheck, int Generation = 0)
    {
        /// <summary>How long before it falls due a run may send it.</summary>
        public long EarlyTicks => (IsCheck ? Kept.CheckTicks : Kept.RenewTicks) / EarlyShare;
    }
}
