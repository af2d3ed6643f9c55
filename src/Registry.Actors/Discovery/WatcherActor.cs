using System.Collections.Immutable;
using Akka.Actor;
using Akka.Event;
using Registry.Etcd;

namespace Registry.Discovery;

/// <summary>
/// Watches one service (or every service, for <see cref="DiscoverySupervisor.AllServices"/>) in etcd and reports
/// exactly what changed: lists the prefix at revision R, watches from R with previous values (the changes at R itself,
/// already listed, change nothing), and after a broken stream or a compaction lists again and reports the difference
/// against what it had. It does not resume from the last revision it saw: etcd may be back without its data, its new
/// history already past that revision, and a watch resumed there would miss what came before and keep instances that
/// left.
/// A stream that stays silent past <c>registry.discovery.silence-timeout</c> is dropped the same way. While etcd is
/// unreachable it keeps the last membership, flagged stale. Values that do not parse are skipped with one warning
/// per key and revision. Once its last subscriber has left it asks the DiscoverySupervisor to stop it.
/// </summary>
internal sealed partial class WatcherActor : ReceiveActor, IWithTimers, IWithUnboundedStash
{
    // Generations are unique across incarnations: a batch of a previous incarnation's watch, still in the mailbox
    // after a restart, can never pass for the current one's.
    private static int _generations;
    // Listing tokens, unique across incarnations for the same reason: only the answer to the last listing asked counts.
    private static long _listings;
    private readonly string _service;
    private readonly string _prefix;
    private readonly string _registryPrefix;
    private readonly IRegistryStore _store;
    private readonly RegistrySettings _settings;
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly HashSet<IActorRef> _subscribers = [];
    private readonly Dictionary<string, long> _warnedAt = new(StringComparer.Ordinal);
    private ImmutableSortedDictionary<string, ServiceInstance> _members = ImmutableSortedDictionary.Create<string, ServiceInstance>(StringComparer.Ordinal);
    private CancellationTokenSource? _watch;
    private bool _listed;
    private bool _stale;
    private string? _staleReason;
    private long _revision;
    private int _generation;
    private long _listing;
    private bool _created;
    private bool _liveOnCreated;
    /// <summary>Restarted and waiting for the last incarnation's subscribers.</summary>
    private bool _restoring;
    private int _failures;
    /// <summary>Watches answered behind the view in a row, since the last that worked.</summary>
    private int _behindInRow;
    private long _batches;
    private long _subscribes;

    public WatcherActor(string service, IRegistryStore store, RegistrySettings settings)
    {
        _service = service;
        _store = store;
        _settings = settings;
        _registryPrefix = settings.Prefix;
        _prefix = service == DiscoverySupervisor.AllServices ? settings.Prefix : InstanceCodec.ServicePrefix(settings.Prefix, service);
        Watching();
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>The values warned about and not yet replaced or deleted (for tests: it must not grow without bound).</summary>
    internal int WarnedValues => _warnedAt.Count;

    /// <summary>The watch responses handled so far, progress notifications included (for tests: a sync point).</summary>
    internal long Batches => Volatile.Read(ref _batches);

    public IStash Stash { get; set; } = null!;

    public static Props Props(string service, IRegistryStore store, RegistrySettings settings) =>
        Akka.Actor.Props.Create(() => new WatcherActor(service, store, settings));

    protected override void PreStart() => Self.Tell(new List());

    protected override void PreRestart(Exception reason, object message)
    {
        // An incarnation restarted again before it restored its subscribers knows none: the RestoreSubscribers it waited
        // for is still in the mailbox, for the next incarnation. An empty one sent now could be the one a later incarnation
        // takes (a restored one restarted before this reached it), dropping every subscriber.
        if (!_restoring) Self.Tell(new RestoreSubscribers(_subscribers.ToList(), _subscribes, _revision));
        base.PreRestart(reason, message);
    }

    protected override void PostRestart(Exception reason)
    {
        _restoring = true;
        Become(Restoring);
        base.PostRestart(reason);
    }

    protected override void PostStop() => _watch?.Cancel();

    /// <summary>
    /// After a restart everything waits for the last incarnation's subscribers: an unsubscription or a subscriber's
    /// end still in the mailbox then applies to them.
    /// </summary>
    private void Restoring()
    {
        Receive<RestoreSubscribers>(r =>
        {
            _restoring = false;
            _subscribes = r.Subscribes;
            // Until the new listing, a stale flag reports the revision the subscribers' view is at, not 0.
            _revision = r.Revision;
            foreach (var subscriber in r.Subscribers) Subscribe(subscriber);
            Become(Watching);
            Stash.UnstashAll();
            if (_subscribers.Count == 0) ReportIdle();
        });
        ReceiveAny(_ => Stash.Stash());
    }

    private void Watching()
    {
        Receive<SubscribeMembership>(_ =>
        {
            _subscribes++;
            Subscribe(Sender);
        });
        Receive<UnsubscribeMembership>(_ => Unsubscribe(Sender));
        Receive<Terminated>(t => Unsubscribe(t.ActorRef));
        Receive<List>(_ =>
        {
            var token = _listing = Interlocked.Increment(ref _listings);
            _store.ListAsync(_prefix, CancellationToken.None).PipeTo(Self, success: l => new Listed(token, l), failure: e => new ListFailed(token, EtcdErrors.Describe(e)));
        });
        // An earlier listing's answer (a previous incarnation's, or one asked again since) would roll the view back.
        Receive<Listed>(l => l.Token == _listing, l => OnListed(l.Listing));
        Receive<ListFailed>(f => f.Token == _listing, f =>
        {
            if (_failures == 0 && !_listed) _log.Info("cannot list {0} yet, retrying until etcd answers: {1}", _prefix, f.Reason);
            MarkStale($"listing failed: {f.Reason}");
            Timers.StartSingleTimer("list", new List(), _settings.Retry.Delay(_failures++));
        });
        Receive<Batch>(b => b.Generation == _generation, b => OnBatch(b.Events));
        Receive<WatchEnded>(w => w.Generation == _generation, w => OnWatchEnded(w.Reason));
        Receive<CheckSilence>(c => c.Generation == _generation, c =>
        {
            if (c.BatchesSeen != _batches) return;
            _log.Warning("watch of {0} silent for {1}; dropping it and listing again", _prefix, _settings.Discovery.SilenceTimeout);
            OnWatchEnded(new TimeoutException($"no response for {_settings.Discovery.SilenceTimeout}"));
        });
    }

    /// <summary>
    /// Adds a subscriber, which gets the snapshot (again, when it was subscribed already) or, before the first
    /// listing while etcd cannot be read, that the view is stale.
    /// </summary>
    private void Subscribe(IActorRef subscriber)
    {
        if (_subscribers.Add(subscriber)) Context.Watch(subscriber);
        if (_listed) subscriber.Tell(Snapshot());
        else if (_stale) subscriber.Tell(new MembershipStale(_service, true, _staleReason, _revision));
    }

    private void Unsubscribe(IActorRef subscriber)
    {
        if (!_subscribers.Remove(subscriber)) return;
        Context.Unwatch(subscriber);
        if (_subscribers.Count == 0) ReportIdle();
    }

    /// <summary>Asks the DiscoverySupervisor to stop this watcher, naming how many subscriptions it has seen.</summary>
    private void ReportIdle() => Context.Parent.Tell(new Idle(_service, _subscribes));

    private MembershipSnapshot Snapshot() => new(_service, [.. _members.Values], _revision, _stale);

    private void OnListed(Listing listing)
    {
        // The answer to the last listing asked is linearizable: never behind a revision the cluster committed, unless
        // etcd itself went back.
        if (_listed && listing.Revision < _revision)
            _log.Warning("etcd's revision went back from {0} to {1} (its data lost or restored from a backup); reporting the difference for {2}", _revision, listing.Revision, _prefix);
        if (_warnedAt.Count > 0)
        {
            // Values deleted while the watch was down leave no Delete event to forget their warnings by.
            var listed = listing.Values.Select(v => v.Key).ToHashSet(StringComparer.Ordinal);
            foreach (var key in _warnedAt.Keys.Where(key => !listed.Contains(key)).ToList()) _warnedAt.Remove(key);
        }
        var fresh = ImmutableSortedDictionary.CreateBuilder<string, ServiceInstance>(StringComparer.Ordinal);
        foreach (var value in listing.Values)
        {
            if (Decode(value) is { } instance) fresh[value.Key] = instance;
        }
        var previous = _members;
        _members = fresh.ToImmutable();
        _revision = listing.Revision;
        if (!_listed)
        {
            _listed = true;
            ClearStale();
            Emit(Snapshot());
        }
        else
        {
            // A re-list after a broken stream or compaction: report exactly the difference; a stale view is live again
            // once the new watch is created. Were every watch refused, it would otherwise flip between stale and live
            // at each listing, and the back-off (reset only by a watch that works) would never grow. The new and changed
            // instances first, then those gone: a follower that acts on each event (a gRPC channel's resolver) holds more
            // instances for a moment, never none while some are registered.
            _log.Info("listed {0} again at revision {1}", _prefix, _revision);
            foreach (var (key, now) in _members)
            {
                if (!previous.TryGetValue(key, out var old)) Emit(new InstanceUp(now.Service, now, _revision));
                else if (old != now) Emit(new InstanceUpdated(now.Service, old, now, _revision));
            }
            foreach (var (key, old) in previous)
            {
                if (!_members.ContainsKey(key)) Emit(new InstanceDown(old.Service, old, _revision));
            }
            _liveOnCreated = _stale;
        }
        OpenWatch();
    }

    private void OpenWatch()
    {
        _watch?.Cancel();
        _watch = new CancellationTokenSource();
        var generation = _generation = Interlocked.Increment(ref _generations);
        _created = false;
        var self = Self;
        var ct = _watch.Token;
        // From R, not R+1: etcd without the fix of etcd-io/etcd#18089 (Debian's 3.4.23 among them) loses a deletion at the
        // compact revision once it restarts, so a watch from R+1 after a compaction at R+1 would be served without that
        // deletion and never cancelled. From R it is cancelled instead (R is below the compact revision) and the view
        // lists again. The price: etcd catches a watch from its current revision up on its 100 ms sync loop, so the
        // changes of the first 100 ms after a listing can arrive that much later.
        var from = _revision;
        _ = Task.Run(async () =>
        {
            try
            {
                await foreach (var batch in _store.WatchAsync(_prefix, from, ct)) self.Tell(new Batch(generation, batch));
                self.Tell(new WatchEnded(generation, new InvalidOperationException("the watch ended")));
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                self.Tell(new WatchEnded(generation, e));
            }
        }, ct);
        ScheduleSilenceCheck();
    }

    private void ScheduleSilenceCheck() =>
        Timers.StartSingleTimer("silence", new CheckSilence(_generation, _batches), _settings.Discovery.SilenceTimeout);

    /// <summary>
    /// Applies a watch response. The first one only confirms the watch was created: etcd cancels a watch opened below
    /// its compaction after that, so the view is live again only with the next (events, or a progress notification),
    /// unless a listing just made it whole.
    /// </summary>
    private void OnBatch(WatchBatch batch)
    {
        _batches++;
        ScheduleSilenceCheck();
        var created = !_created;
        _created = true;
        if (created && batch.Revision < _revision)
        {
            // A member a little behind, or etcd restarted with its data lost or restored: the watch, opened in its
            // future, would miss every change until etcd's revision passed ours. A linearizable listing tells them apart.
            _log.Info("etcd answered the watch of {0} at revision {1}, behind the view's {2}; re-listing", _prefix, batch.Revision, _revision);
            _watch?.Cancel();
            _generation = Interlocked.Increment(ref _generations);
            // A member a moment behind is listed again at once. Behind again (a member stuck behind, still with a
            // leader), no watch follows the view: it is stale, and listed again with back-off rather than in a loop.
            if (_behindInRow++ == 0)
            {
                Self.Tell(new List());
            }
            else
            {
                MarkStale($"etcd answered the watch at revision {batch.Revision}, behind the view's {_revision}");
                Timers.StartSingleTimer("list", new List(), _settings.Retry.Delay(_failures++));
            }
            return;
        }
        if (created && _liveOnCreated)
        {
            _liveOnCreated = false;
            ClearStale();
        }
        if (created && batch.Events.Count == 0) return;
        _failures = 0;
        _behindInRow = 0;
        ClearStale();
        foreach (var change in batch.Events) Apply(change);
    }

    /// <summary>
    /// Applies one event; the view's revision advances with events only. Progress notifications prove the stream alive
    /// but do not move it: etcd before 3.4.25 / 3.5.8 can send a progress revision ahead of events still queued
    /// (etcd-io/etcd#15220). An event older than the view is one etcd sent again, which etcd before 3.4.24 / 3.5.8 does
    /// for a watcher it held back (etcd-io/etcd#15248): applied, it would bring back what left since.
    /// </summary>
    private void Apply(WatchEvent change)
    {
        var key = change.Current.Key;
        var revision = change.Current.ModRevision;
        if (revision < _revision) return;
        _revision = revision;
        var known = _members.TryGetValue(key, out var old);
        var now = change.Kind == WatchEventKind.Put ? Decode(change.Current) : null;
        if (change.Kind == WatchEventKind.Delete) _warnedAt.Remove(key);
        if (now is null)
        {
            if (!known) return;
            _members = _members.Remove(key);
            Emit(new InstanceDown(old!.Service, old, revision));
        }
        else if (!known)
        {
            _members = _members.Add(key, now);
            Emit(new InstanceUp(now.Service, now, revision));
        }
        else if (old != now)
        {
            _members = _members.SetItem(key, now);
            Emit(new InstanceUpdated(now.Service, old!, now, revision));
        }
    }

    private void OnWatchEnded(Exception reason)
    {
        _watch?.Cancel();
        _generation = Interlocked.Increment(ref _generations);
        if (reason is RevisionCompactedException compacted)
        {
            _log.Info("history of {0} compacted at {1} past our revision {2}; re-listing", _prefix, compacted.CompactRevision, _revision);
            Self.Tell(new List());
            return;
        }
        MarkStale($"watch broke: {EtcdErrors.Describe(reason)}");
        Timers.StartSingleTimer("list", new List(), _settings.Retry.Delay(_failures++));
    }

    /// <summary>
    /// Flags the view as stale: the last membership is kept. Before the first listing there is no membership yet;
    /// subscribers are told etcd is unreachable all the same, and get their snapshot once it answers.
    /// </summary>
    private void MarkStale(string reason)
    {
        if (_stale)
        {
            // Said once as a warning; why each later attempt failed, at debug level (one line per retry).
            _log.Debug("view of {0} still stale: {1}", _prefix, reason);
            return;
        }
        _stale = true;
        _staleReason = reason;
        RegistryMetrics.CountStale(_service);
        if (_listed) _log.Warning("view of {0} is stale, keeping the last {1} instances: {2}", _prefix, _members.Count, reason);
        Emit(new MembershipStale(_service, true, reason, _revision));
    }

    private void ClearStale()
    {
        if (!_stale) return;
        _stale = false;
        _staleReason = null;
        _log.Info("view of {0} is live again at revision {1}", _prefix, _revision);
        Emit(new MembershipStale(_service, false, null, _revision));
    }

    /// <summary>
    /// Tells the subscribers and, for a single service, the EventStream. The all-services watcher serves its direct
    /// subscribers only: publishing its events too would put every change of a watched service on the stream twice.
    /// </summary>
    private void Emit(MembershipEvent e)
    {
        foreach (var subscriber in _subscribers) subscriber.Tell(e);
        if (_service != DiscoverySupervisor.AllServices) Context.System.EventStream.Publish(e);
    }

    /// <summary>The instance a stored value holds, or null (warned once per key and revision) when it is not one.</summary>
    private ServiceInstance? Decode(StoredValue value)
    {
        string? problem;
        ServiceInstance? instance = null;
        try
        {
            instance = InstanceCodec.Decode(value.Value);
            var expected = InstanceCodec.Key(_registryPrefix, instance.Service, instance.Id);
            problem = expected == value.Key ? null : $"the value names {Printable.Excerpt(expected)}";
        }
        catch (FormatException e)
        {
            problem = e.Message;
        }
        if (problem is null)
        {
            _warnedAt.Remove(value.Key);
            return instance;
        }
        if (_warnedAt.GetValueOrDefault(value.Key) == value.ModRevision) return null;
        _warnedAt[value.Key] = value.ModRevision;
        RegistryMetrics.SkippedValues.Add(1);
        _log.Warning("skipping {0} at revision {1}: {2}", Printable.Excerpt(value.Key), value.ModRevision, problem);
        return null;
    }

}
