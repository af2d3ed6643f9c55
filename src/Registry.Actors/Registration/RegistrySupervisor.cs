using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Registry.Etcd;
using Registry.Registration;

namespace Registry;

/// <summary>
/// The registry of one actor system: answers <see cref="Register"/> and <see cref="Deregister"/>, owns one
/// LeaseActor per registered instance, and restarts a crashed one with back-off, handing it the lease it held
/// so it re-attaches without the key ever disappearing.
/// </summary>
public sealed partial class RegistrySupervisor : ReceiveActor, IWithTimers
{
    private readonly IRegistryStore _store;
    private readonly RegistrySettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Dictionary<string, Entry> _entries = new();
    private IActorRef? _drainRequester;
    private long _incarnations;

    internal RegistrySupervisor(IRegistryStore store, RegistrySettings settings)
    {
        _store = store;
        _settings = settings;
        Receive<Register>(OnRegister);
        Receive<Deregister>(OnDeregister);
        Receive<DeregisterAll>(_ => OnDeregisterAll());
        Receive<LeaseActor.Attached>(a =>
        {
            if (_entries.TryGetValue(a.Key, out var entry)) _entries[a.Key] = entry with { LeaseId = a.LeaseId, Restarts = 0 };
        });
        Receive<LeaseActor.Stopping>(s =>
        {
            if (_entries.TryGetValue(s.Key, out var entry)) _entries[s.Key] = entry with { Stopping = true };
        });
        Receive<Deregistered>(d =>
        {
            var key = InstanceCodec.Key(_settings.Prefix, d.Service, d.Id);
            if (_entries.TryGetValue(key, out var entry)) _entries[key] = AnswerDeregistered(entry);
        });
        Receive<Terminated>(OnTerminated);
        Receive<RestartChild>(r =>
        {
            if (_entries.TryGetValue(r.Key, out var entry) && entry.Child is null) _entries[r.Key] = entry with { Child = Start(entry, null) };
        });
    }

    /// <inheritdoc />
    public ITimerScheduler Timers { get; set; } = null!;

    internal static Props Props(IRegistryStore store, RegistrySettings settings) =>
        Akka.Actor.Props.CreateBy(new Producer(store, settings));

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
        var problems = InstanceValidation.Check(register.Instance).ToList();
        if (InstanceValidation.CheckTtl(ttl) is { } ttlProblem) problems.Add(ttlProblem);
        if (_drainRequester is not null) problems.Add("the registry is shutting down");
        if (problems.Count > 0)
        {
            Sender.Tell(new RegistrationFailed(register.Instance, string.Join("; ", problems)));
            return;
        }
        var key = InstanceCodec.Key(_settings.Prefix, register.Instance.Service, register.Instance.Id);
        if (_entries.TryGetValue(key, out var entry) && entry is { Child: not null, Stopping: false })
        {
            if (entry.TtlSeconds != ttl)
            {
                Sender.Tell(new RegistrationFailed(register.Instance, $"ttl {ttl}: already registered with ttl {entry.TtlSeconds}; deregister first"));
                return;
            }
            _entries[key] = entry with { Instance = register.Instance };
            entry.Child.Forward(register);
            return;
        }
        if (entry is { Child: not null })
        {
            Sender.Tell(new RegistrationFailed(register.Instance, "the instance is being deregistered; register it again once that is answered"));
            return;
        }
        if (entry is not null)
        {
            // Crashed and waiting for its restart: start it now, still re-attaching to the lease it held.
            var restarted = entry with { Instance = register.Instance, TtlSeconds = ttl };
            _entries[key] = restarted with { Child = Start(restarted, Sender) };
            return;
        }
        var fresh = new Entry(key, register.Instance, ttl, 0, 0, false, null, []);
        _entries[key] = fresh with { Child = Start(fresh, Sender) };
    }

    private void OnDeregister(Deregister deregister)
    {
        var key = InstanceCodec.Key(_settings.Prefix, deregister.Service, deregister.Id);
        if (_entries.TryGetValue(key, out var entry) && entry.Child is not null)
        {
            // Answered here, exactly once, when the child reports Deregistered or is gone: a child that stops by
            // itself (after a conflict) drops what is still in its mailbox.
            _entries[key] = entry with { AwaitingStop = entry.AwaitingStop.Add(Sender) };
            if (!entry.Stopping) entry.Child.Tell(deregister, Self);
            return;
        }
        // Not registered, or waiting for a restart: the lease it may still hold simply expires.
        _entries.Remove(key);
        Sender.Tell(new Deregistered(deregister.Service, deregister.Id));
    }

    private void OnDeregisterAll()
    {
        _drainRequester = Sender;
        foreach (var entry in _entries.Values.ToList())
        {
            if (entry.Child is null) _entries.Remove(entry.Key);
            else entry.Child.Tell(new Deregister(entry.Instance.Service, entry.Instance.Id), ActorRefs.NoSender);
        }
        ReplyIfDrained();
    }

    private void OnTerminated(Terminated terminated)
    {
        var entry = _entries.Values.FirstOrDefault(e => terminated.ActorRef.Equals(e.Child));
        if (entry is null) return;
        if (entry.Stopping || _drainRequester is not null)
        {
            AnswerDeregistered(entry);
            _entries.Remove(entry.Key);
            ReplyIfDrained();
            return;
        }
        var delay = _settings.Restart.Delay(entry.Restarts);
        _log.Warning("registration of {0} crashed; starting it again in {1:0} ms", entry.Key, delay.TotalMilliseconds);
        _entries[entry.Key] = entry with { Child = null, Restarts = entry.Restarts + 1 };
        Timers.StartSingleTimer(entry.Key, new RestartChild(entry.Key), delay);
    }

    private static Entry AnswerDeregistered(Entry entry)
    {
        foreach (var requester in entry.AwaitingStop) requester.Tell(new Deregistered(entry.Instance.Service, entry.Instance.Id));
        return entry with { AwaitingStop = [] };
    }

    private void ReplyIfDrained()
    {
        if (_drainRequester is null || _entries.Count > 0) return;
        _drainRequester.Tell(AllDeregistered.Instance);
    }

    private IActorRef Start(Entry entry, IActorRef? requester)
    {
        var name = $"{Uri.EscapeDataString(entry.Key)}-{++_incarnations}";
        var child = Context.ActorOf(LeaseActor.Props(_store, _settings, entry.Instance, entry.TtlSeconds, entry.LeaseId, requester), name);
        Context.Watch(child);
        return child;
    }

    /// <summary>Creates the actor through its internal constructor, which reflection-based Props cannot call.</summary>
    private sealed class Producer(IRegistryStore store, RegistrySettings settings) : IIndirectActorProducer
    {
        public Type ActorType => typeof(RegistrySupervisor);

        public ActorBase Produce() => new RegistrySupervisor(store, settings);

        public void Release(ActorBase actor)
        {
        }
    }

    /// <summary>One registration; <paramref name="AwaitingStop"/> are deregistration requests answered once its actor is gone.</summary>
    private sealed record Entry(
        string Key, ServiceInstance Instance, long TtlSeconds, long LeaseId, int Restarts, bool Stopping, IActorRef? Child,
        ImmutableList<IActorRef> AwaitingStop);
}
