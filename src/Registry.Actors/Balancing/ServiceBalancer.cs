using System.Collections.Immutable;
using Akka.Event;
using Registry.Balancing;

namespace Registry;

/// <summary>
/// The hot-path side of a service's balancer: picks an instance without a message round trip and without
/// allocating, from an immutable snapshot its BalancerActor replaces whenever the membership changes. Safe to use
/// from any number of threads. Get it from the balancer actor with <see cref="GetBalancer"/>.
/// </summary>
/// <remarks>
/// Passive health: a failed call ejects its instance for a back-off that doubles with each consecutive failure
/// (capped, jittered); it is re-admitted when the back-off ends, and a success while it is in resets the count. Timed-out calls count
/// as a failure once <c>registry.balancing.ejection.consecutive-timeouts</c> of them come in a row (a hung instance),
/// or at the first while failures are counted. At most
/// <c>registry.balancing.ejection.max-ejected-percent</c> of the instances are ejected at once and never all of them:
/// a failure beyond that share ejects nothing, and when instances leave so that too many of the rest are ejected,
/// those whose ejection would end soonest come back first.
/// </remarks>
public sealed class ServiceBalancer
{
    private readonly Lock _lock = new();
    private readonly ILoadBalancingPolicy _policy;
    private readonly BalancingSettings _settings;
    private readonly TimeProvider _time;
    private readonly CallTotal _total = new();
    // Only bounded-load hashing weighs the total; other policies' calls skip its shared counter.
    private readonly bool _keepsTotal;
    private readonly TaskCompletionSource _known = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private View _view;
    // Versions of the snapshots built, under the lock.
    private long _versions;
    private long _membersPublishedAt;
    // Why etcd cannot be read, while the membership is stale; written under the lock.
    private string? _staleReason;

    internal ServiceBalancer(string service, ILoadBalancingPolicy policy, BalancingSettings settings, TimeProvider? time = null)
    {
        Service = service;
        _policy = policy;
        _settings = settings;
        _time = time ?? TimeProvider.System;
        _keepsTotal = policy is ConsistentHashLoadBalancingPolicy;
        _view = View.Unknown(service, _total);
    }

    /// <summary>The service this balancer picks instances of.</summary>
    public string Service { get; }

    /// <summary>The name of the policy that picks.</summary>
    public string Policy => _policy.Name;

    /// <summary>Every registered instance, ejected or not, ordered by id.</summary>
    public ImmutableArray<ServiceInstance> Members => Current().Members;

    /// <summary>The instances a pick chooses from now.</summary>
    public AvailableInstances Available => Current().Available;

    /// <summary>True while the membership is the last one known because etcd is unreachable.</summary>
    public bool IsStale => Current().Stale;

    /// <summary>Why <see cref="Pick"/> finds no instance now; null when it finds one.</summary>
    public string? UnavailableReason => Current().Reason;

    /// <summary>
    /// Completes once the balancer holds the service's membership (which may have no instance), from its first listing
    /// of etcd; until then <see cref="Pick"/> finds nothing. It waits while etcd cannot be read: bound it with
    /// <paramref name="ct"/>.
    /// </summary>
    /// <exception cref="OperationCanceledException"><paramref name="ct"/> was cancelled first.</exception>
    /// <exception cref="InvalidOperationException">
    /// The balancer, or the registry's discovery it follows, stopped first (the registry closing, say).
    /// </exception>
    public Task WhenKnownAsync(CancellationToken ct = default) => _known.Task.WaitAsync(ct);

    /// <summary>No membership will come (the owning actor or its discovery stopped): a wait for the first one ends with <paramref name="message"/>.</summary>
    internal void Abandon(string message) => _known.TrySetException(new InvalidOperationException(message));

    /// <summary>Where passive-health changes are logged; set by the owning actor.</summary>
    internal ILoggingAdapter? Log { get; set; }

    /// <summary>
    /// Picks an instance for one call with the balancer's policy. End the returned call exactly once. Returns a call
    /// without instance (<see cref="BalancedCall.HasInstance"/> false) when there is none to pick.
    /// </summary>
    /// <param name="key">The caller's key for the <c>hash</c> policy; other policies ignore it.</param>
    /// <exception cref="InvalidOperationException">A custom policy picked an index out of range.</exception>
    public BalancedCall Pick(string? key = null)
    {
        var available = Current().Available;
        return available.Count == 0 ? default : Begin(available, Checked(_policy.Pick(available, key), available));
    }

    /// <summary>
    /// Picks an instance for the retry of a call that has tried the instances <paramref name="tried"/> (ids): the
    /// policy's choice when it was not tried; else, with <c>hash</c>, the next untried instance on the ring from the
    /// key (where the key would go if the tried ones were ejected); with other policies the policy asked again
    /// (<see cref="RetryAsks"/> times), else an untried instance at random. When every available instance was tried,
    /// returns the policy's choice and <paramref name="untried"/> false.
    /// </summary>
    /// <remarks>
    /// A policy may keep choosing an instance that failed while it stays in (the ejected share is full): the key's
    /// instance with <c>hash</c>, the one without calls in flight with <c>p2c</c> (its calls fail fast). A retry must
    /// reach another instance all the same, so it does not depend on the policy alone; and the retries of that
    /// instance's calls are spread as calls are, not all sent to one neighbour. Allocates nothing.
    /// </remarks>
    internal BalancedCall PickUntried(string? key, ReadOnlySpan<string> tried, out bool untried)
    {
        untried = true;
        var available = Current().Available;
        if (available.Count == 0) return default;
        var chosen = Checked(_policy.Pick(available, key), available);
        if (!tried.Contains(available[chosen].Id)) return Begin(available, chosen);
        if (key is not null && _policy is ConsistentHashLoadBalancingPolicy hash)
        {
            var next = hash.PickUntried(available, key, tried);
            untried = next >= 0;
            return Begin(available, untried ? next : chosen);
        }
        for (var ask = 0; ask < RetryAsks; ask++)
        {
            var again = Checked(_policy.Pick(available, key), available);
            if (!tried.Contains(available[again].Id)) return Begin(available, again);
        }
        var left = 0;
        for (var index = 0; index < available.Count; index++)
        {
            if (!tried.Contains(available[index].Id)) left++;
        }
        if (left == 0)
        {
            untried = false;
            return Begin(available, chosen);
        }
        for (int index = 0, skip = Random.Shared.Next(left); ; index++)
        {
            if (!tried.Contains(available[index].Id) && skip-- == 0) return Begin(available, index);
        }
    }

    /// <summary>How many more times a retry asks the policy when its choice was tried, before it takes any untried instance.</summary>
    private const int RetryAsks = 2;

    private BalancedCall Begin(AvailableInstances available, int index)
    {
        var state = available.States[index];
        state.Begin();
        return new BalancedCall(available[index], state);
    }

    /// <summary><paramref name="index"/>, the policy's pick, when it is one of <paramref name="available"/>'s.</summary>
    private int Checked(int index, AvailableInstances available) => (uint)index < (uint)available.Count
        ? index
        : throw new InvalidOperationException($"policy '{_policy.Name}' picked index {index} of {available.Count} instance(s) of '{Service}'");

    /// <summary>Replaces the membership (from the actor); instances still at the same address keep their state.</summary>
    internal void Publish(ImmutableArray<ServiceInstance> instances, bool stale)
    {
        lock (_lock)
        {
            var previous = new Dictionary<string, InstanceState>(StringComparer.Ordinal);
            foreach (var state in _view.States) previous[state.Instance.Id] = state;
            var states = new InstanceState[instances.Length];
            for (var i = 0; i < states.Length; i++)
            {
                var instance = instances[i];
                if (previous.TryGetValue(instance.Id, out var kept) && kept.Instance.Address == instance.Address)
                {
                    previous.Remove(instance.Id);
                    kept.Instance = instance;
                    states[i] = kept;
                }
                else
                {
                    states[i] = new InstanceState(this, instance, _total);
                }
            }
            var view = Build(states, known: true, stale, _time.GetTimestamp());
            Volatile.Write(ref _membersPublishedAt, _time.GetTimestamp());
            Volatile.Write(ref _view, view);
            // Left, or replaced by a new state at another address: their calls in flight leave the total.
            foreach (var state in previous.Values) state.Uncount();
        }
        _known.TrySetResult();
    }

    /// <summary>
    /// When <see cref="Members"/> last changed, as a timestamp of the balancer's TimeProvider (Stopwatch by default),
    /// taken just before the new members became visible: the benchmark times propagation to the snapshot with it.
    /// </summary>
    internal long MembersPublishedAt => Volatile.Read(ref _membersPublishedAt);

    /// <summary>
    /// Flags the membership as stale or fresh, keeping it; <paramref name="reason"/> (why etcd cannot be read) goes into
    /// <see cref="UnavailableReason"/> while no membership is known.
    /// </summary>
    internal void SetStale(bool stale, string? reason = null)
    {
        lock (_lock)
        {
            var view = _view;
            var next = stale ? reason : null;
            var reasonChanged = !view.Known && _staleReason != next;
            _staleReason = next;
            if (view.Stale != stale || reasonChanged) Volatile.Write(ref _view, Build(view.States, view.Known, stale, _time.GetTimestamp()));
        }
    }

    /// <summary>The state of the member <paramref name="id"/>, null when it is not a member.</summary>
    internal InstanceState? Find(string id) => Array.Find(Volatile.Read(ref _view).States, s => s.Instance.Id == id);

    /// <summary>A call on <paramref name="state"/>'s instance succeeded.</summary>
    internal void Succeeded(InstanceState state)
    {
        // Nothing to reset on the hot path; a reset takes the lock, or it could land between a failure's count and its
        // ejection (an instance ejected with no failures counted, whose next back-off would start over).
        if (Volatile.Read(ref state.ConsecutiveFailures) == 0 && Volatile.Read(ref state.ConsecutiveTimeouts) == 0) return;
        lock (_lock)
        {
            state.ConsecutiveTimeouts = 0;
            // A success of a call that started before the ejection does not cut the back-off of the next one.
            if (state.EjectedUntil == 0) state.ConsecutiveFailures = 0;
        }
    }

    /// <summary>A call on <paramref name="state"/>'s instance failed: eject it unless the ejected share is full.</summary>
    internal void Failed(InstanceState state)
    {
        if (_settings.MaxEjectedPercent == 0) return;
        lock (_lock) Eject(state, timedOut: 0);
    }

    /// <summary>
    /// A call on <paramref name="state"/>'s instance timed out: eject it (unless the ejected share is full) at the
    /// configured number in a row, or at once when it has failed since its last success.
    /// </summary>
    internal void TimedOut(InstanceState state)
    {
        if (_settings.MaxEjectedPercent == 0 || _settings.ConsecutiveTimeouts == 0) return;
        lock (_lock)
        {
            var timedOut = ++state.ConsecutiveTimeouts;
            if (timedOut < _settings.ConsecutiveTimeouts && state.ConsecutiveFailures == 0) return;
            state.ConsecutiveTimeouts = 0;
            Eject(state, timedOut);
        }
    }

    /// <summary>
    /// Counts a failure of <paramref name="state"/>'s instance (after <paramref name="timedOut"/> calls timed out in a
    /// row, 0 for a failed call) and ejects it unless the ejected share is full; under the lock.
    /// </summary>
    private void Eject(InstanceState state, int timedOut)
    {
        var view = _view;
        var now = _time.GetTimestamp();
        // Calls in flight when the instance was ejected fail too; they do not lengthen its back-off.
        if (state.EjectedUntil > now || Array.IndexOf(view.States, state) < 0) return;
        // Saturated: an instance kept in by a full ejected share can fail past int.MaxValue, and a count that wrapped
        // to negative would eject it for no time at all.
        if (state.ConsecutiveFailures < int.MaxValue) state.ConsecutiveFailures++;
        var failures = state.ConsecutiveFailures;
        var ejected = view.States.Count(s => s.EjectedUntil > now);
        var allowed = _settings.MaxEjected(view.States.Length);
        if (ejected >= allowed)
        {
            // Debug: with the share full this would be one line per failed call.
            Log?.Debug("{0} of '{1}' failed {2} time(s) in a row but stays in: {3} of {4} instances are ejected already (at most {5})",
                state.Instance.Id, Service, failures, ejected, view.States.Length, allowed);
            return;
        }
        var backoff = _settings.Ejection.Delay(failures - 1);
        state.EjectedUntil = now + (long)(backoff.TotalSeconds * _time.TimestampFrequency);
        if (timedOut == 0) Log?.Warning("{0} of '{1}' ejected for {2:0} ms after {3} consecutive failure(s)", state.Instance.Id, Service, backoff.TotalMilliseconds, failures);
        else Log?.Warning("{0} of '{1}' ejected for {2:0} ms after {3} timed-out call(s) in a row ({4} failure(s) since its last success)",
            state.Instance.Id, Service, backoff.TotalMilliseconds, timedOut, failures);
        Volatile.Write(ref _view, Build(view.States, view.Known, view.Stale, now));
    }

    /// <summary>The current view, rebuilt first when an ejection has ended since it was built.</summary>
    private View Current()
    {
        var view = Volatile.Read(ref _view);
        return view.ReviewAt == long.MaxValue || _time.GetTimestamp() < view.ReviewAt ? view : Review();
    }

    private View Review()
    {
        // Another thread holds the lock, to rebuild the view or change it (milliseconds for a large ring): picks go on
        // with the current view meanwhile, rather than wait, and the instance whose ejection ended comes back after.
        if (!_lock.TryEnter()) return Volatile.Read(ref _view);
        try
        {
            var view = _view;
            var now = _time.GetTimestamp();
            if (now < view.ReviewAt) return view;
            var rebuilt = Build(view.States, view.Known, view.Stale, now);
            Volatile.Write(ref _view, rebuilt);
            return rebuilt;
        }
        finally
        {
            _lock.Exit();
        }
    }

    /// <summary>Builds the view of <paramref name="states"/> at <paramref name="now"/>; called under the lock.</summary>
    private View Build(InstanceState[] states, bool known, bool stale, long now)
    {
        var ejected = 0;
        foreach (var state in states)
        {
            if (state.EjectedUntil == 0) continue;
            if (state.EjectedUntil <= now)
            {
                state.EjectedUntil = 0;
                Log?.Info("{0} of '{1}' re-admitted after its ejection", state.Instance.Id, Service);
            }
            else
            {
                ejected++;
            }
        }

        // Members left and too many of the rest are ejected: those whose ejection ends soonest come back now.
        var allowed = _settings.MaxEjected(states.Length);
        for (; ejected > allowed; ejected--)
        {
            var soonest = states.Where(s => s.EjectedUntil != 0).MinBy(s => s.EjectedUntil)!;
            soonest.EjectedUntil = 0;
            Log?.Info("{0} of '{1}' re-admitted early: at most {2} of {3} instances may be ejected", soonest.Instance.Id, Service, allowed, states.Length);
        }

        var eligible = ejected == 0 ? states : states.Where(s => s.EjectedUntil == 0).ToArray();
        // The total of calls in flight covers the instances picks choose from: the ejected ones leave it, the others join.
        if (_keepsTotal)
        {
            foreach (var state in states)
            {
                if (state.EjectedUntil == 0) state.Count();
                else state.Uncount();
            }
        }
        var reviewAt = ejected == 0 ? long.MaxValue : states.Where(s => s.EjectedUntil != 0).Min(s => s.EjectedUntil);
        string? reason = null;
        if (!known) reason = $"the membership of '{Service}' is not known yet" + (!stale ? "" : _staleReason is null ? ": etcd is unreachable" : $": etcd is unreachable ({_staleReason})");
        else if (states.Length == 0) reason = $"no instance of '{Service}' is registered" + (stale ? " (last known membership; etcd is unreachable)" : "");
        else if (eligible.Length == 0) reason = $"every instance of '{Service}' is ejected";
        var available = new AvailableInstances(Service, eligible, _total, ++_versions);
        if (eligible.Length > 0 && _policy is IPreparedPolicy prepared) prepared.Prepare(available);
        return new View(states, [..states.Select(s => s.Instance)], available, reviewAt, known, stale, reason);
    }

    /// <summary>What picks read: the members, those available, and when an ejection ends next.</summary>
    private sealed record View(
        InstanceState[] States,
        ImmutableArray<ServiceInstance> Members,
        AvailableInstances Available,
        long ReviewAt,
        bool Known,
        bool Stale,
        string? Reason)
    {
        public static View Unknown(string service, CallTotal total) =>
            new([], [], new AvailableInstances(service, [], total), long.MaxValue, false, false, $"the membership of '{service}' is not known yet");
    }
}
