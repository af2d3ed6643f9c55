using System.Collections.Immutable;
using System.Diagnostics;
using Akka.Actor;
using Akka.Event;
using Registry.Etcd;
using Registry.Registration;

namespace Registry;

/// <summary>
/// The registry of one actor system: answers <see cref="Register"/> and <see cref="Deregister"/>, owns one
/// LeaseActor per registered instance, and restarts a crashed one with back-off, handing it the lease it held
/// so it re-attaches without the key ever disappearing. It is never restarted: a failure on a message costs only that
/// message.
/// </summary>
public sealed partial class RegistrySupervisor : ReceiveActor, IWithTimers
{
    private readonly IRegistryStore _store;
    private readonly RegistrySettings _settings;
    private readonly LeaseKeeper _keeper;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, Entry> _entries = new();
    private readonly Dictionary<IActorRef, string> _keysByChild = new();
    private readonly List<IActorRef> _drainRequesters = [];
    // Set by the first DeregisterAll, for good: the registry is stopping. Every DeregisterAll is answered once drained.
    private bool _draining;
    // Registrations stopped after a conflict, forgotten as entries: their Deregister still says so on the EventStream.
    private readonly Dictionary<string, (ServiceInstance Instance, long LeaseId)> _conflicted = new();
    private long _incarnations;

    internal RegistrySupervisor(IRegistryStore store, RegistrySettings settings)
    {
        _store = store;
        _settings = settings;
        _keeper = new LeaseKeeper(store, settings);
        // The LeaseActors' mailbox is configured in reference.conf, which ServiceRegistry adds to the system's settings;
        // a supervisor started without it (in a test kit's system) adds it itself.
        if (!Context.System.Settings.Config.HasPath(LeaseMailbox.Path)) Context.System.Settings.InjectTopLevelFallback(RegistrySettings.Reference);
        Receive<Register>(OnRegister);
        Receive<Deregister>(OnDeregister);
        Receive<DeregisterAll>(_ => OnDeregisterAll());
        Receive<LeaseActor.Attached>(a => Update(a.Key, e => OnAttached(e, a.LeaseId) with { RegisteredSince = a.RegisteredSince ?? e.RegisteredSince }));
        Receive<LeaseActor.Stopping>(OnStopping);
        // The children answer the supervisor, which answers the requesters: a child that crashes or stops by itself
        // loses what it was asked, the supervisor does not.
        Receive<Registered>(r => Update(r.Key, e => AnswerRegistered(e, r)));
        Receive<RegistrationFailed>(f => f.Instance is not null, f => Update(KeyOf(f.Instance!), e => Answer(e, f)));
        Receive<Deregistered>(OnDeregistered);
        Receive<Terminated>(OnTerminated);
        Receive<RestartChild>(r =>
        {
            if (_entries.TryGetValue(r.Key, out var entry) && entry.Child is null) _entries[r.Key] = Start(entry);
        });
        Receive<OrphanRevoked>(OnOrphanRevoked);
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    internal static Props Props(IRegistryStore store, RegistrySettings settings) =>
        Akka.Actor.Props.CreateBy(new FactoryProducer<RegistrySupervisor>(() => new RegistrySupervisor(store, settings)));

    /// <summary>
    /// An exception escaping a handler costs only the message that raised it, and whatever the handler had done before
    /// it threw: it is logged, whoever waits on that message is answered (<see cref="RegistrationFailure.Error"/> for a
    /// <see cref="Register"/>, and for the requesters waiting on a LeaseActor's answer the supervisor failed on;
    /// <see cref="Status.Failure"/> for a <see cref="Deregister"/>), and every registration is kept. A
    /// <see cref="DeregisterAll"/> is still answered once every registration is gone, or given up at its timeout. Left
    /// to the parent, the failure would restart this actor, stopping every LeaseActor of the process and forgetting its
    /// registrations.
    /// </summary>
    protected override bool AroundReceive(Receive receive, object message)
    {
        try
        {
            return base.AroundReceive(receive, message);
        }
        catch (Exception e)
        {
            _log.Error(e, "failed on a message of type {0}, which is dropped; every registration is kept", message.GetType().Name);
            var reason = $"the registry failed on the request: {e.GetType().Name}: {e.Message}";
            switch (message)
            {
                case Register r:
                    Sender.Tell(new RegistrationFailed(r.Instance, RegistrationFailure.Error, reason));
                    break;
                case Deregister:
                    Sender.Tell(new Status.Failure(e));
                    break;
                case Registered { Key: { } key }:
                    FailWaiting(key, reason);
                    break;
                case RegistrationFailed { Instance: { Service: { } service, Id: { } id } }:
                    FailWaiting(KeyOf(service, id), reason);
                    break;
            }
            return true;
        }
    }

    /// <summary>Answers those waiting for the registration of <paramref name="key"/> with the supervisor's failure.</summary>
    private void FailWaiting(string key, string reason) =>
        Update(key, e => Answer(e, new RegistrationFailed(e.Instance, RegistrationFailure.Error, reason)));

    /// <summary>Stops renewing: the children, stopped before, have revoked their leases or left them to expire.</summary>
    protected override void PostStop() => _keeper.Dispose();

    /// <summary>A crashed LeaseActor is stopped, not restarted in place: the supervisor starts a new one after a back-off.</summary>
    protected override SupervisorStrategy SupervisorStrategy() =>
        new OneForOneStrategy(e =>
        {
            _log.Error(e, "a registration actor failed; it is started again after a back-off");
            return Directive.Stop;
        });

    private void OnRegister(Register register)
    {
        var ttl = register.TtlSeconds ?? _settings.TtlSeconds;
        // A malformed request is refused naming what is wrong (a null instance included), not failed on as a bug.
        List<string> problems = register.Instance is null ? ["instance: must not be null"] : [.. InstanceValidation.Check(register.Instance)];
        if (InstanceValidation.CheckTtl(ttl) is { } ttlProblem) problems.Add(ttlProblem);
        else if (TimeSpan.FromSeconds(ttl) < _settings.CallTimeout)
            problems.Add($"ttl {ttl}: below registry.etcd.call-timeout ({_settings.CallTimeout.TotalSeconds:0.###}s), which a keep-alive stream stuck would outlast");
        if (register.Instance is not { } instance || problems.Count > 0)
        {
            // Echoes the instance asked for, null included (as RegistrationFailed documents).
            Sender.Tell(new RegistrationFailed(register.Instance, RegistrationFailure.Invalid, string.Join("; ", problems)));
            return;
        }
        if (_draining)
        {
            Sender.Tell(new RegistrationFailed(instance, RegistrationFailure.Stopping, "the registry is shutting down"));
            return;
        }
        var key = KeyOf(instance);
        if (!_entries.TryGetValue(key, out var entry))
        {
            // Registered again after a conflict: a Deregister then concerns the new registration.
            _conflicted.Remove(key);
            _entries[key] = Start(new Entry(key, instance, ttl, 0, [], 0, false, null, false, [new Waiting(Sender, instance)], []));
            return;
        }
        if (entry.Conflicted)
        {
            Sender.Tell(ConflictFailure(instance));
            return;
        }
        if (entry.Stopping || !entry.AwaitingStop.IsEmpty)
        {
            Sender.Tell(new RegistrationFailed(instance, RegistrationFailure.Stopping, "the instance is being deregistered; register it again once that is answered"));
            return;
        }
        if (entry.TtlSeconds != ttl)
        {
            Sender.Tell(new RegistrationFailed(instance, RegistrationFailure.Invalid, $"ttl {ttl}: already registered with ttl {entry.TtlSeconds}; deregister first"));
            return;
        }
        // The registration held is kept for the same one asked again: a restarted actor then re-attaches without a write.
        entry = entry with { Instance = entry.Instance.IsSameRegistration(instance) ? entry.Instance : instance, AwaitingRegistered = entry.AwaitingRegistered.Add(new Waiting(Sender, instance)) };
        if (entry.Child is not null) entry.Child.Tell(register, Self);
        // Crashed and waiting for its restart: start it now, still re-attaching to the lease it held.
        else entry = Start(entry);
        _entries[key] = entry;
    }

    private void OnDeregister(Deregister deregister)
    {
        var problems = new[] { InstanceValidation.CheckService(deregister.Service), InstanceValidation.CheckId(deregister.Id) }.OfType<string>().ToList();
        if (problems.Count > 0)
        {
            Sender.Tell(new Status.Failure(new ArgumentException(string.Join("; ", problems))));
            return;
        }
        var key = KeyOf(deregister.Service, deregister.Id);
        if (_conflicted.Remove(key, out var stopped)) PublishDeregisteredAfterConflict(stopped.Instance, key, stopped.LeaseId);
        if (!_entries.TryGetValue(key, out var entry))
        {
            Sender.Tell(new Deregistered(deregister.Service, deregister.Id));
            return;
        }
        var stopping = entry.Stopping || !entry.AwaitingStop.IsEmpty;
        entry = entry with { AwaitingStop = entry.AwaitingStop.Add(Sender) };
        _entries[key] = entry;
        if (stopping) return;
        if (entry.Child is not null) entry.Child.Tell(deregister, Self);
        else RevokeOrphan(entry);
    }

    private void OnDeregisterAll()
    {
        _draining = true;
        _drainRequesters.Add(Sender);
        foreach (var entry in _entries.Values.ToList())
        {
            if (entry.Stopping || !entry.AwaitingStop.IsEmpty) continue;
            if (entry.Child is not null) entry.Child.Tell(new Deregister(entry.Instance.Service, entry.Instance.Id), Self);
            else RevokeOrphan(entry);
        }
        ReplyIfDrained();
    }

    /// <summary>
    /// Records the lease a LeaseActor bound (or is about to bind) the key to. An actor that crashed during an acquire
    /// can still report the lease it was granted: that is the entry's lease until the current actor reports a lease of
    /// its own. Every lease reported is one this registration held: an actor started again learns them all, so it
    /// takes a key found on any of them (etcd restored from a backup) as its own, not as a newer registration's.
    /// </summary>
    private Entry OnAttached(Entry entry, long leaseId)
    {
        var held = entry.HeldLeases.Contains(leaseId) ? entry.HeldLeases : entry.HeldLeases.Add(leaseId);
        if (held.Count > LeaseActor.HeldLeasesKept) held = held.RemoveAt(0);
        if (Sender.Equals(entry.Child)) return entry with { LeaseId = leaseId, HeldLeases = held, ChildAttached = true };
        // A predecessor's late report: the running actor learns the lease too (its late write may have landed on it).
        entry.Child?.Tell(new LeaseActor.HeldBefore(leaseId));
        return entry.ChildAttached ? entry with { HeldLeases = held } : entry with { LeaseId = leaseId, HeldLeases = held };
    }

    /// <summary>
    /// The actor revoked its lease (or gave up on it) and stops: the registration is forgotten now, not once the actor
    /// has stopped, so a Register that follows the answer starts a new one (a new actor, a new lease). The old lease
    /// holds the key no more once the new registration writes it: revoked late, it deletes only keys still bound to it.
    /// </summary>
    private void OnDeregistered(Deregistered deregistered)
    {
        if (_entries.TryGetValue(KeyOf(deregistered.Service, deregistered.Id), out var entry) && Sender.Equals(entry.Child)) Finish(entry);
    }

    private void OnStopping(LeaseActor.Stopping stopping) => Update(stopping.Key, e =>
    {
        if (!stopping.Conflict) return e with { Stopping = true };
        // A Deregister sent before the conflict is answered once the actor has stopped: it is over already.
        if (!e.AwaitingStop.IsEmpty) PublishDeregisteredAfterConflict(e.Instance, e.Key, e.LeaseId);
        else _conflicted[e.Key] = (e.Instance, e.LeaseId);
        return e with { Stopping = true, Conflicted = true };
    });

    private static RegistrationFailed ConflictFailure(ServiceInstance instance) =>
        new(instance, RegistrationFailure.Conflict, "conflict: a newer registration took the key; this process stopped registering it");

    /// <summary>Nothing is revoked (the conflict did that), but whoever follows the events learns the registration is over.</summary>
    private void PublishDeregisteredAfterConflict(ServiceInstance instance, string key, long leaseId) =>
        PublishDeregistered(instance, key, leaseId, "stopped after a conflict; nothing left to revoke");

    /// <summary>Publishes that the registration of <paramref name="key"/> is over.</summary>
    private void PublishDeregistered(ServiceInstance instance, string key, long leaseId, string? detail) =>
        RegistrationEvents.Publish(Context.System, new RegistrationEvent(RegistrationEventKind.Deregistered, instance, key, leaseId, detail));

    private void OnTerminated(Terminated terminated)
    {
        if (!_keysByChild.Remove(terminated.ActorRef, out var key) || !_entries.TryGetValue(key, out var entry)) return;
        if (!terminated.ActorRef.Equals(entry.Child)) return;
        // Its late Attached (sent before it crashed) is still the entry's lease until the next actor reports one.
        entry = entry with { Child = null, ChildAttached = false };
        if (entry.Stopping && entry.Conflicted)
        {
            // Those whose Register reached the actor after its conflict: it dropped them, stopping.
            Finish(Answer(entry, ConflictFailure(entry.Instance)));
            return;
        }
        if (entry.Stopping)
        {
            // Gone while deregistering, before it answered: its lease may still be held (revoking a revoked one is done).
            _entries[entry.Key] = entry;
            RevokeOrphan(entry);
            return;
        }
        if (!entry.AwaitingStop.IsEmpty || _draining)
        {
            // Crashed while asked to deregister: revoke the lease it held rather than starting it again.
            _entries[entry.Key] = entry;
            RevokeOrphan(entry);
            return;
        }
        // Crashes in a row back off further; an actor that ran a max-backoff without crashing starts the count again.
        var restarts = Stopwatch.GetElapsedTime(entry.StartedAt) >= _settings.Restart.Max ? 0 : entry.Restarts;
        var delay = _settings.Restart.Delay(restarts);
        _log.Warning("registration of {0} crashed; starting it again in {1:0} ms", entry.Key, delay.TotalMilliseconds);
        _entries[entry.Key] = entry with { Restarts = restarts + 1 };
        Timers.StartSingleTimer(entry.Key, new RestartChild(entry.Key), delay);
        RegistrationEvents.Publish(Context.System, new RegistrationEvent(RegistrationEventKind.Restarting, entry.Instance, entry.Key, entry.LeaseId,
            $"its actor crashed; started again in {delay.TotalMilliseconds:0} ms, its lease not renewed until then"));
    }

    /// <summary>Revokes the lease of a registration whose actor is gone (crashed, waiting for its restart).</summary>
    private void RevokeOrphan(Entry entry)
    {
        Timers.Cancel(entry.Key);
        _entries[entry.Key] = entry with { Stopping = true };
        RevokeAsync(_store, _settings, entry, _log).PipeTo(Self);
    }

    /// <summary>Retried as the actor would have, until the deregister timeout.</summary>
    private static async Task<OrphanRevoked> RevokeAsync(IRegistryStore store, RegistrySettings settings, Entry entry, ILoggingAdapter log) =>
        new(entry.Key, await LeaseActor.RevokeAsync(store, settings, entry.Key, entry.LeaseId, entry.HeldLeases, entry.TtlSeconds, log));

    private void OnOrphanRevoked(OrphanRevoked revoked)
    {
        if (!_entries.TryGetValue(revoked.Key, out var entry)) return;
        if (revoked.Failure is null) _log.Info("{0} deregistered", revoked.Key);
        else _log.Warning("{0} deregistered without revoking its lease: {1}", revoked.Key, revoked.Failure);
        PublishDeregistered(entry.Instance, entry.Key, entry.LeaseId, revoked.Failure);
        Finish(entry);
    }

    /// <summary>The registration is over: answer everyone still waiting and forget it.</summary>
    private void Finish(Entry entry)
    {
        Answer(entry, new RegistrationFailed(entry.Instance, RegistrationFailure.Stopping, "deregistered before it was registered"));
        AnswerDeregistered(entry);
        _entries.Remove(entry.Key);
        ReplyIfDrained();
    }

    /// <summary>Fails every requester waiting on the entry, each answer naming the instance that requester asked for.</summary>
    private static Entry Answer(Entry entry, RegistrationFailed answer)
    {
        foreach (var waiting in entry.AwaitingRegistered) waiting.Requester.Tell(answer with { Instance = waiting.Asked });
        return entry with { AwaitingRegistered = [] };
    }

    /// <summary>
    /// Answers the requesters <paramref name="registered"/> satisfies. The actor answers in the order it was asked, each
    /// time with the value it was asked for last: every requester up to the last one that asked for that value gets it
    /// (one before that asked for a value since replaced), and those who asked later wait for theirs.
    /// </summary>
    private static Entry AnswerRegistered(Entry entry, Registered registered)
    {
        var satisfied = entry.AwaitingRegistered.FindLastIndex(w => w.Asked.IsSameRegistration(registered.Instance)) + 1;
        foreach (var waiting in entry.AwaitingRegistered.Take(satisfied)) waiting.Requester.Tell(registered);
        return entry with { AwaitingRegistered = entry.AwaitingRegistered.RemoveRange(0, satisfied) };
    }

    private static Entry AnswerDeregistered(Entry entry)
    {
        foreach (var requester in entry.AwaitingStop) requester.Tell(new Deregistered(entry.Instance.Service, entry.Instance.Id));
        return entry with { AwaitingStop = [] };
    }

    private void Update(string key, Func<Entry, Entry> change)
    {
        if (_entries.TryGetValue(key, out var entry)) _entries[key] = change(entry);
    }

    private void ReplyIfDrained()
    {
        if (_entries.Count > 0) return;
        foreach (var requester in _drainRequesters) requester.Tell(AllDeregistered.Instance);
        _drainRequesters.Clear();
    }

    private string KeyOf(ServiceInstance instance) => KeyOf(instance.Service, instance.Id);

    private string KeyOf(string service, string id) => InstanceCodec.Key(_settings.Prefix, service, id);

    /// <summary>
    /// Starts the entry's LeaseActor and returns the entry holding it; the actor answers the supervisor when there are
    /// requesters to answer.
    /// </summary>
    private Entry Start(Entry entry)
    {
        var name = $"{Uri.EscapeDataString(entry.Key)}-{++_incarnations}";
        var requester = entry.AwaitingRegistered.IsEmpty ? null : Self;
        var child = Context.ActorOf(LeaseActor.Props(_store, _keeper, _settings, entry.Instance, entry.TtlSeconds, entry.LeaseId, entry.HeldLeases, entry.RegisteredSince, requester), name);
        Context.Watch(child);
        _keysByChild[child] = entry.Key;
        return entry with { Child = child, ChildAttached = false, StartedAt = Stopwatch.GetTimestamp() };
    }

    /// <summary>
    /// One registration: the instance last asked for (the one held when the same is asked again), its actor (null while
    /// a crashed one waits for its restart), the lease it last held (<paramref name="ChildAttached"/> once the current
    /// actor reported it), the last few leases it held (newest last), its crashes in a row and when its actor started
    /// (a <see cref="Stopwatch"/> timestamp), the requesters still waiting for an answer to <see cref="Register"/>
    /// and to <see cref="Deregister"/>, and the registration's age, the earliest <c>registeredAt</c> it wrote (null until
    /// the key was first written: a restarted actor then takes it over, as a fresh registration does).
    /// </summary>
    private sealed record Entry(
        string Key, ServiceInstance Instance, long TtlSeconds, long LeaseId, ImmutableList<long> HeldLeases, int Restarts, bool Stopping, IActorRef? Child,
        bool ChildAttached, ImmutableList<Waiting> AwaitingRegistered, ImmutableList<IActorRef> AwaitingStop, bool Conflicted = false, long StartedAt = 0,
        DateTimeOffset? RegisteredSince = null);

    /// <summary>A requester waiting for the answer to its <see cref="Register"/> of <paramref name="Asked"/>.</summary>
    private sealed record Waiting(IActorRef Requester, ServiceInstance Asked);
}
