using Akka.Actor;
using Akka.Event;
using Registry.Etcd;

namespace Registry.Registration;

/// <summary>
/// Owns one instance's registration: grants a lease, writes the key bound to it, hands the lease to the registry's
/// <see cref="LeaseKeeper"/> (which renews it and checks the key, telling this actor only of a change), replaces a lost
/// lease at once, writes back a key deleted by hand or overwritten on its lease, and revokes the lease on
/// <see cref="Deregister"/>.
/// Started fresh, or again after a crash before the key was first written, it takes the key over (the newer
/// registration wins). Once the key was written (after a crash then too), after losing its lease or its key, it only
/// claims a key that is absent or still its own (on no lease, on a lease it held before, or holding a registration made
/// before its own): a key bound to another lease holding a registration as new as its own or newer is a conflict, and
/// it stops instead of fighting over the key.
/// </summary>
/// <remarks>
/// An <see cref="UntypedActor"/> whose behaviours are methods: one runs per registered instance, and a
/// <see cref="ReceiveActor"/> builds its handler tables per actor and per <c>Become</c> (~2 KB each of 10,000 actors).
/// </remarks>
internal sealed partial class LeaseActor : UntypedActor, IWithTimers
{
    private const string AcquireTimer = "acquire";

    private readonly IRegistryStore _store;
    private readonly LeaseKeeper _keeper;
    private readonly RegistrySettings _settings;
    private readonly long _ttl;
    private readonly string _key;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<IActorRef> _awaitingRegistered = [];
    private readonly List<IActorRef> _awaitingDeregistered = [];
    private ServiceInstance _instance;
    private long _lease;
    // The leases this registration held, its predecessors' too, newest last (a few: one more per lease lost): a key
    // found on one of them is its own, left there by etcd restored from a backup or by a crashed predecessor's late write.
    private readonly List<long> _heldLeases = [];
    // The registration's age: the earliest registeredAt of the values written (by this actor or a crashed predecessor),
    // null until the key is first written: the registration is fresh until then, and takes the key over. A registration
    // found on another lease is taken back only when made before it. Not the value being written, nor the last one
    // written: an update stamped now (as ServiceInstance.Create stamps) would make an older process that updated its
    // value before, or while, a newer one took the id over take it back, and two processes updating in turn take it from
    // each other at each update.
    private DateTimeOffset? _registeredSince;
    private RegistrationEventKind _acquireKind = RegistrationEventKind.Registered;
    private int _failures;
    private bool _busy;

    /// <summary>How many of the leases a registration held are remembered.</summary>
    internal const int HeldLeasesKept = 8;

    public LeaseActor(IRegistryStore store, LeaseKeeper keeper, RegistrySettings settings, ServiceInstance instance, long ttlSeconds, long previousLease,
        IReadOnlyList<long> heldLeases, DateTimeOffset? registeredSince, IActorRef? requester)
    {
        _store = store;
        _keeper = keeper;
        _settings = settings;
        _instance = instance;
        _ttl = ttlSeconds;
        _key = InstanceCodec.Key(settings.Prefix, instance.Service, instance.Id);
        _lease = previousLease;
        foreach (var lease in heldLeases) Hold(lease);
        Hold(previousLease);
        _registeredSince = registeredSince;
        if (requester is not null) _awaitingRegistered.Add(requester);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(IRegistryStore store, LeaseKeeper keeper, RegistrySettings settings, ServiceInstance instance, long ttlSeconds, long previousLease,
        IReadOnlyList<long> heldLeases, DateTimeOffset? registeredSince, IActorRef? requester) =>
        Akka.Actor.Props.CreateBy(new FactoryProducer<LeaseActor>(() => new LeaseActor(store, keeper, settings, instance, ttlSeconds, previousLease, heldLeases, registeredSince, requester)))
            .WithMailbox(LeaseMailbox.Path);

    protected override void PreStart() => StartAcquire();

    protected override void OnReceive(object message) => Acquiring(message);

    protected override bool AroundReceive(Receive receive, object message)
    {
        // Whatever the behaviour: it only adds to what the registration held.
        if (message is not HeldBefore held) return base.AroundReceive(receive, message);
        Hold(held.LeaseId);
        return true;
    }

    protected override void PostStop()
    {
        _keeper.Forget(_lease, Self);
        _stopping.Cancel();
    }

    private void Acquiring(object message)
    {
        switch (message)
        {
            case Acquire:
                StartAcquire();
                break;
            case Acquired acquired:
                OnAcquired(acquired);
                break;
            case AcquireFailed failed:
                _busy = false;
                _lease = failed.LeaseToReuse;
                // Granted, its write's fate unknown: the key may be on it.
                Hold(_lease);
                if (_failures++ == 0)
                {
                    Publish(RegistrationEventKind.Delayed, failed.Reason);
                    _log.Warning("registration of {0} not made yet, retrying until etcd answers: {1}", _key, failed.Reason);
                }
                else _log.Debug("registration of {0} not made yet: {1}", _key, failed.Reason);
                Timers.StartSingleTimer(AcquireTimer, new Acquire(), _settings.Retry.Delay(_failures - 1));
                break;
            case Conflicted c:
                _lease = c.OwnLeaseId;
                OnConflict(c.OtherLeaseId);
                break;
            case TakeBack t:
                _busy = false;
                _lease = t.LeaseToReuse;
                Hold(_lease);
                _log.Warning("{0} was {1} during the write; taking it back", _key, t.Found);
                StartAcquire();
                break;
            case LeaseGone gone:
                _busy = false;
                OnLeaseLost(gone.LeaseId);
                StartAcquire();
                break;
            // Answered once the key is written; an attempt in flight with the old value is followed by one with the new.
            case Register r:
                _awaitingRegistered.Add(Sender);
                if (!r.Instance.IsSameRegistration(_instance)) _instance = r.Instance;
                break;
            case Deregister:
                StartDeregistering();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    /// <summary>Remembers <paramref name="lease"/> as one this registration held.</summary>
    private void Hold(long lease)
    {
        if (lease == 0 || _heldLeases.Contains(lease)) return;
        _heldLeases.Add(lease);
        if (_heldLeases.Count > HeldLeasesKept) _heldLeases.RemoveAt(0);
    }

    private void StartAcquire()
    {
        if (_busy) return;
        _busy = true;
        AcquireAsync(_lease, _instance, _registeredSince, [.. _heldLeases], Context.Parent, Self, _stopping.Token).PipeTo(Self);
    }

    /// <summary>
    /// Whether <paramref name="other"/> is a registration made strictly before <paramref name="own"/>: an earlier
    /// <c>registeredAt</c>. A value that does not decode is not.
    /// </summary>
    private static bool RegisteredBefore(byte[] other, DateTimeOffset own)
    {
        try
        {
            return InstanceCodec.Decode(other).RegisteredAt < own;
        }
        catch (FormatException)
        {
            return false;
        }
    }

    /// <summary>
    /// The instance <paramref name="value"/> holds when it is the same registration as <paramref name="instance"/>,
    /// written as the registry writes it (a value edited by hand, with fields added or missing, is not).
    /// </summary>
    private static ServiceInstance? SameRegistrationStored(byte[] value, ServiceInstance instance)
    {
        try
        {
            var stored = InstanceCodec.Decode(value);
            return stored.IsSameRegistration(instance) && InstanceCodec.Encode(stored).AsSpan().SequenceEqual(value) ? stored : null;
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private async Task<object> AcquireAsync(long lease, ServiceInstance instance, DateTimeOffset? registeredSince, long[] heldLeases, IActorRef parent, IActorRef self, CancellationToken ct)
    {
        var value = InstanceCodec.Encode(instance);
        var mayTakeOver = registeredSince is null;
        // This registration's age, or an update's registeredAt if earlier.
        var since = Earliest(registeredSince, instance.RegisteredAt);
        // Null for a lease held before this attempt: it was not renewed while the actor acquired (or was down).
        long? grantedAt = null;
        var condition = mayTakeOver ? PutCondition.Always : PutCondition.Absent;
        try
        {
            if (!mayTakeOver)
            {
                var current = await _store.GetAsync(_key, ct);
                var onOtherLease = current is not null && (lease == 0 || current.LeaseId != lease);
                // On a lease this registration held before (etcd restored from a backup taken then, or a crashed
                // predecessor's late write), the key is its own: taken back below, only while it stays on that lease.
                // On no lease (written by hand or by another tool) it is no registration's: taken back the same way.
                // So is a registration made before this one, on another process's lease: etcd restored from a backup
                // taken before this process took the id over, the older process gone since. On any other lease it is a
                // newer registration's. Lease ids tell, and registration times, not values: two registrations may write
                // the same bytes.
                if (onOtherLease && TakenBackAs(current!, since, heldLeases) is null) return new Conflicted(current!.LeaseId, lease);
                if (lease != 0 && await _store.TimeToLiveAsync(lease, ct) < 0) return new LeaseGone(lease);
                if (onOtherLease) condition = PutCondition.BoundTo(current!.LeaseId);
                else if (current is not null)
                {
                    if (current.Value.AsSpan().SequenceEqual(value)) return new Acquired(lease, instance, value, "re-attached to its lease", GrantedAt: null);
                    // The same registration written at another time (an earlier Register of it): kept as it is.
                    if (SameRegistrationStored(current.Value, instance) is { } stored) return new Acquired(lease, stored, current.Value, "re-attached to its lease", GrantedAt: null);
                    var rewrite = await _store.PutAsync(_key, value, lease, PutCondition.BoundTo(lease), ct);
                    if (rewrite.Succeeded) return new Acquired(lease, instance, value, "value updated", GrantedAt: null);
                    if (rewrite.Other is { } holder) return Claimed(holder, lease, since, heldLeases);
                    // The key vanished between the read and the write: it is written back below, as an absent key is.
                }
            }
            if (lease == 0)
            {
                grantedAt = _keeper.Now;
                lease = (await _store.GrantLeaseAsync(_ttl, ct)).LeaseId;
                // Before the write: an actor that crashes right after it must re-attach to this lease, not see a conflict.
                // Sent as this actor, which may have crashed meanwhile: the parent then weighs it against its successor.
                parent.Tell(new Attached(_key, lease), self);
            }
            var outcome = await _store.PutAsync(_key, value, lease, condition, ct);
            if (!outcome.Succeeded)
            {
                return outcome.Other switch
                {
                    // An earlier write with this lease landed after this attempt read the key absent: one the client gave
                    // up on that still reached etcd, or a crashed predecessor's. The key is this registration's own.
                    { } mine when mine.LeaseId == lease => mine.Value.AsSpan().SequenceEqual(value)
                        ? new Acquired(lease, instance, value, "re-attached to its lease", grantedAt)
                        : new AcquireFailed("the key holds an earlier value written with this lease", lease),
                    { } other => Claimed(other, lease, since, heldLeases),
                    null => new AcquireFailed("the key changed during the write", lease),
                };
            }
            var tookOver = outcome.Other switch
            {
                { LeaseId: 0 } => "took the key back from a value written without a lease",
                { } previous when previous.LeaseId != lease => $"took the id over from lease {previous.LeaseId:x}",
                _ => null,
            };
            return new Acquired(lease, instance, value, tookOver, grantedAt);
        }
        // A registration made before: its lease expired since it was read alive, and is replaced at once.
        catch (LeaseNotFoundException e) when (!mayTakeOver)
        {
            return new LeaseGone(e.LeaseId);
        }
        catch (LeaseNotFoundException e)
        {
            return new AcquireFailed(e.Message, 0);
        }
        catch (Exception e)
        {
            return new AcquireFailed(EtcdErrors.Describe(e), lease);
        }
    }

    /// <summary>
    /// The answer when a conditional write found <paramref name="other"/> in the key, bound to another lease than its
    /// own: another attempt at once, which takes it back, when the read before the write would have taken it back;
    /// otherwise a conflict.
    /// </summary>
    private static object Claimed(StoredValue other, long lease, DateTimeOffset since, long[] heldLeases) =>
        TakenBackAs(other, since, heldLeases) is { } found ? new TakeBack(lease, found) : new Conflicted(other.LeaseId, lease);

    /// <summary>
    /// What <paramref name="other"/>, found in the key on another lease than this registration's, was written as, when
    /// the registration takes it back: on no lease, on a lease it held before, or by a registration made before
    /// <paramref name="since"/>; null when it is a newer registration's, a conflict.
    /// </summary>
    private static string? TakenBackAs(StoredValue other, DateTimeOffset since, long[] heldLeases) => other switch
    {
        { LeaseId: 0 } => "written without a lease",
        _ when heldLeases.Contains(other.LeaseId) => $"put back on lease {other.LeaseId:x}, held before",
        _ when RegisteredBefore(other.Value, since) => $"put on lease {other.LeaseId:x} by a registration made before this one",
        _ => null,
    };

    /// <summary>The earlier of a registration's age (null before its first write) and <paramref name="registeredAt"/>.</summary>
    private static DateTimeOffset Earliest(DateTimeOffset? age, DateTimeOffset registeredAt) =>
        age is { } a && a < registeredAt ? a : registeredAt;

    private void OnAcquired(Acquired acquired)
    {
        _busy = false;
        _lease = acquired.LeaseId;
        Hold(_lease);
        _failures = 0;
        _registeredSince = Earliest(_registeredSince, acquired.Written.RegisteredAt);
        Context.Parent.Tell(new Attached(_key, _lease, _registeredSince));
        if (!acquired.Written.IsSameRegistration(_instance))
        {
            // Register with a new value arrived while the old one was being written.
            BeginAcquiring(_acquireKind);
            return;
        }
        _instance = acquired.Written;
        Publish(_acquireKind, acquired.Detail);
        _log.Info("{0} {1} with lease {2:x}{3}", _key, _acquireKind.ToString().ToLowerInvariant(), _lease, acquired.Detail is null ? "" : $" ({acquired.Detail})");
        foreach (var requester in _awaitingRegistered) requester.Tell(new Registered(_instance, _key, _lease));
        _awaitingRegistered.Clear();
        Become(Holding);
        _keeper.Keep(_lease, _key, acquired.Value, _ttl, Self, acquired.GrantedAt);
    }

    /// <summary>The lease is kept by the keeper; news from it about another (earlier) lease is stale and ignored.</summary>
    private void Holding(object message)
    {
        switch (message)
        {
            case LeaseKeeper.RenewalFailing f when f.LeaseId == _lease:
                Publish(RegistrationEventKind.RenewFailed, f.Reason);
                _log.Warning("renewal of {0} failed, retrying: {1}", _key, f.Reason);
                break;
            case LeaseKeeper.RenewalsRecovered r when r.LeaseId == _lease:
                Publish(RegistrationEventKind.Recovered, $"after {r.Failures} failed renewals");
                _log.Info("renewals of {0} recovered after {1} failures", _key, r.Failures);
                break;
            case LeaseKeeper.LeaseExpired e when e.LeaseId == _lease:
                OnLeaseLost(_lease);
                BeginAcquiring(RegistrationEventKind.Reregistered);
                break;
            case LeaseKeeper.KeyMissing m when m.LeaseId == _lease:
                _log.Warning("{0} vanished while its lease {1:x} lives; writing it back", _key, _lease);
                BeginAcquiring(RegistrationEventKind.Reregistered);
                break;
            case LeaseKeeper.KeyChanged c when c.LeaseId == _lease:
                _log.Warning("{0} holds a value this registration did not write, bound to its lease {1:x}; writing it back", _key, _lease);
                BeginAcquiring(RegistrationEventKind.Reregistered);
                break;
            case LeaseKeeper.KeyTaken { OtherLeaseId: 0 } t when t.LeaseId == _lease:
                _log.Warning("{0} was written without a lease, by hand or by another tool, not by a registration; writing it back", _key);
                BeginAcquiring(RegistrationEventKind.Reregistered);
                break;
            case LeaseKeeper.KeyTaken t when t.LeaseId == _lease:
                if (_heldLeases.Contains(t.OtherLeaseId))
                    _log.Warning("{0} is bound to lease {1:x}, which this registration held before, not to its lease {2:x} (etcd restored from a backup?); taking it back", _key, t.OtherLeaseId, _lease);
                else
                    _log.Info("{0} is bound to lease {1:x} of another process; reading it: a newer registration's is a conflict, an older one's (etcd restored from a backup) is taken back", _key, t.OtherLeaseId);
                BeginAcquiring(RegistrationEventKind.Reregistered);
                break;
            // The same registration asked for again (RegisteredAt aside): answered with the one held, nothing written.
            case Register r when r.Instance.IsSameRegistration(_instance):
                Sender.Tell(new Registered(_instance, _key, _lease));
                break;
            case Register r:
                _awaitingRegistered.Add(Sender);
                _instance = r.Instance;
                BeginAcquiring(RegistrationEventKind.Registered);
                break;
            case Deregister:
                StartDeregistering();
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void OnLeaseLost(long lease)
    {
        Publish(RegistrationEventKind.LeaseLost, $"lease {lease:x} is gone");
        _log.Warning("lease {0:x} of {1} is gone; granting a new one", lease, _key);
        _lease = 0;
        _acquireKind = RegistrationEventKind.Reregistered;
    }

    private void BeginAcquiring(RegistrationEventKind kind)
    {
        _keeper.Forget(_lease, Self);
        Timers.CancelAll();
        _acquireKind = kind;
        _failures = 0;
        Become(Acquiring);
        StartAcquire();
    }

    private void OnConflict(long otherLease)
    {
        var detail = $"the key is bound to lease {otherLease:x} of a newer registration";
        _log.Warning("{0}: {1}; this process stops registering it", _key, detail);
        Publish(RegistrationEventKind.Conflict, detail);
        foreach (var requester in _awaitingRegistered) requester.Tell(new RegistrationFailed(_instance, RegistrationFailure.Conflict, $"conflict: {detail}"));
        // The lease no longer holds the key; revoking it only frees it early.
        if (_lease != 0) _ = _store.RevokeLeaseAsync(_lease, CancellationToken.None);
        Context.Parent.Tell(new Stopping(_key, Conflict: true));
        Context.Stop(Self);
    }

    private void StartDeregistering()
    {
        if (!Sender.IsNobody()) _awaitingDeregistered.Add(Sender);
        _keeper.Forget(_lease, Self);
        Timers.CancelAll();
        Context.Parent.Tell(new Stopping(_key));
        _stopping.Cancel();
        Become(Deregistering);
        if (!_busy) RevokeAsync().PipeTo(Self);
    }

    private void Deregistering(object message)
    {
        switch (message)
        {
            case Deregister:
                _awaitingDeregistered.Add(Sender);
                break;
            case Register r:
                Sender.Tell(new RegistrationFailed(r.Instance, RegistrationFailure.Stopping, "the instance is being deregistered"));
                break;
            // An operation in flight when deregistration began: revoke whatever lease it leaves.
            case Acquired a:
                AfterInFlight(a.LeaseId);
                break;
            case AcquireFailed f:
                AfterInFlight(f.LeaseToReuse);
                break;
            case Conflicted c:
                AfterInFlight(c.OwnLeaseId);
                break;
            case TakeBack t:
                AfterInFlight(t.LeaseToReuse);
                break;
            case LeaseGone:
                AfterInFlight(0);
                break;
            case Revoked r:
                Publish(RegistrationEventKind.Deregistered, r.Failure ?? (NeverHeldALease ? "no lease was held: nothing to revoke" : null));
                if (r.Failure is null) _log.Info("{0} deregistered", _key);
                else _log.Warning("{0} deregistered without revoking its lease: {1}", _key, r.Failure);
                foreach (var requester in _awaitingRegistered) requester.Tell(new RegistrationFailed(_instance, RegistrationFailure.Stopping, "deregistered before it was registered"));
                foreach (var requester in _awaitingDeregistered) requester.Tell(new Deregistered(_instance.Service, _instance.Id));
                Context.Stop(Self);
                break;
            default:
                Unhandled(message);
                break;
        }
    }

    private void AfterInFlight(long lease)
    {
        if (!_busy) return;
        _busy = false;
        _lease = lease;
        RevokeAsync().PipeTo(Self);
    }

    /// <summary>
    /// Revokes the lease held and those this registration held before, and deletes a value written over the key without
    /// a lease; also when it holds none now (lost, its replacement not granted yet).
    /// </summary>
    private async Task<Revoked> RevokeAsync() => new(await RevokeAsync(_store, _settings, _key, _lease, _heldLeases, _ttl, _log));

    private bool NeverHeldALease => _lease == 0 && _heldLeases.Count == 0;

    /// <summary>
    /// Revokes <paramref name="lease"/> (0 when none is held now), then the other leases of <paramref name="held"/> (etcd
    /// restored from a backup may have put the key back on one since the last key check: etcd answers a lease it no
    /// longer has as revoked), then deletes <paramref name="key"/> if a value was written over it without a lease,
    /// retrying with back-off until <c>registry.deregister-timeout</c>; null once done, else why not. Nothing at all when
    /// no lease was ever held: nothing was written.
    /// </summary>
    internal static async Task<string?> RevokeAsync(IRegistryStore store, RegistrySettings settings, string key, long lease, IEnumerable<long> held, long ttlSeconds, ILoggingAdapter log)
    {
        long[] leases = [.. held.Prepend(lease).Where(l => l != 0).Distinct()];
        if (leases.Length == 0) return null;
        using var deadline = new CancellationTokenSource(settings.DeregisterTimeout);
        var revoked = 0;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                for (; revoked < leases.Length; revoked++) await store.RevokeLeaseAsync(leases[revoked], deadline.Token);
                // The revoke deletes only the keys on the lease: a value written over the key without one since the last
                // key check (which would have taken it back) would stay listed for good.
                if (await store.DeleteUnleasedAsync(key, deadline.Token)) log.Warning("{0}: deleted a value written over it without a lease", key);
                return null;
            }
            catch (Exception e)
            {
                var failure = revoked > 0
                    ? $"{EtcdErrors.Describe(e)}; lease {leases[0]:x} is revoked, a value written over the key without a lease, or restored onto a lease it held before, may remain"
                    : $"{EtcdErrors.Describe(e)}; the key expires with lease {leases[0]:x} within {ttlSeconds}s";
                if (deadline.IsCancellationRequested) return failure;
                try
                {
                    await Task.Delay(settings.Retry.Delay(attempt), deadline.Token);
                }
                catch (OperationCanceledException)
                {
                    return failure;
                }
            }
        }
    }

    private void Publish(RegistrationEventKind kind, string? detail = null) =>
        RegistrationEvents.Publish(Context.System, new RegistrationEvent(kind, _instance, _key, _lease, detail));
}
