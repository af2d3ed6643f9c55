using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// A watch straight on etcd's gRPC Watch stream that records every event on a key or prefix, so a test can assert
/// on what really happened in etcd ("no DELETE was seen"). It resumes after its revision when the stream breaks,
/// and stops, reporting <see cref="CompactedAt"/>, if etcd compacted the history it still needed.
/// </summary>
public sealed class DirectWatch : IAsyncDisposable
{
    private static readonly TimeSpan ReconnectDelay = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan DefaultWait = TimeSpan.FromSeconds(10);

    private readonly EtcdTestClient _client;
    private readonly ByteString _key;
    private readonly ByteString _rangeEnd;
    private readonly CancellationTokenSource _stop = new();
    private readonly TaskCompletionSource _created = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _lock = new();
    private readonly List<WatchedEvent> _events = [];
    private TaskCompletionSource _changed = NewSignal();
    private long _revision;
    private long? _compactedAt;
    private string? _stoppedBecause;
    private int _reconnects;
    private int _disposed;
    private Task _loop = Task.CompletedTask;

    private DirectWatch(EtcdTestClient client, ByteString key, ByteString rangeEnd, long fromRevision)
    {
        _client = client;
        _key = key;
        _rangeEnd = rangeEnd;
        _revision = fromRevision - 1;
    }

    /// <summary>A copy of the events received so far, in revision order.</summary>
    public IReadOnlyList<WatchedEvent> Events
    {
        get
        {
            lock (_lock)
            {
                return _events.ToArray();
            }
        }
    }

    /// <summary>The DELETE events received so far.</summary>
    public IReadOnlyList<WatchedEvent> Deletes => Events.Where(e => e.Kind == WatchedEventKind.Delete).ToArray();

    /// <summary>Every event up to this revision has been received (from events and etcd's progress notifications).</summary>
    public long Revision
    {
        get
        {
            lock (_lock)
            {
                return _revision;
            }
        }
    }

    /// <summary>Set when the watch stopped because etcd had compacted past the revision it needed.</summary>
    public long? CompactedAt
    {
        get
        {
            lock (_lock)
            {
                return _compactedAt;
            }
        }
    }

    /// <summary>Why the watch stopped for good (compaction, cancelled by etcd, unexpected error); null while it runs.</summary>
    public string? StoppedBecause
    {
        get
        {
            lock (_lock)
            {
                return _stoppedBecause;
            }
        }
    }

    /// <summary>How many times the stream broke and was re-created.</summary>
    public int Reconnects => Volatile.Read(ref _reconnects);

    /// <summary>
    /// Waits until every event up to etcd's current revision has been received, so that asserting on
    /// <see cref="Events"/> covers everything written before this call. Relies on the fixtures' short
    /// progress-notification interval.
    /// </summary>
    public async Task CatchUpAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var target = await _client.RevisionAsync(ct);
        await WaitUntilAsync(() => _revision >= target, $"the watch to reach revision {target}", timeout, ct);
    }

    /// <summary>Waits for an event matching <paramref name="match"/> (possibly one already received) and returns it.</summary>
    public async Task<WatchedEvent> WaitForAsync(Func<WatchedEvent, bool> match, TimeSpan? timeout = null, CancellationToken ct = default)
    {
        WatchedEvent? found = null;
        await WaitUntilAsync(() => (found = _events.FirstOrDefault(match)) is not null, "a matching event", timeout, ct);
        return found!;
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        await _loop;
        _stop.Dispose();
    }

    internal static async Task<DirectWatch> StartAsync(EtcdTestClient client, ByteString key, ByteString rangeEnd, long fromRevision, CancellationToken ct)
    {
        var watch = new DirectWatch(client, key, rangeEnd, fromRevision);
        watch._loop = watch.RunAsync();
        try
        {
            await watch._created.Task.WaitAsync(client.CallTimeout, ct);
        }
        catch
        {
            await watch.DisposeAsync();
            throw;
        }

        return watch;
    }

    private async Task RunAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await WatchOnceAsync(ct))
                {
                    return;
                }
            }
            catch (Exception) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (RpcException)
            {
                // the stream broke (etcd down, connection reset): resume on a new one
            }
            catch (Exception e)
            {
                _created.TrySetException(e);
                EndWith($"unexpected error: {e}", compactedAt: null);
                return;
            }

            Interlocked.Increment(ref _reconnects);
            try
            {
                await Task.Delay(ReconnectDelay, ct);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>One Watch stream, from the revision after the last one received. True when the watch is over for good.</summary>
    private async Task<bool> WatchOnceAsync(CancellationToken ct)
    {
        using var call = _client.Raw.WatchClient.Watch(new CallOptions(cancellationToken: ct).WithWaitForReady());
        var create = new WatchCreateRequest { Key = _key, RangeEnd = _rangeEnd, StartRevision = Revision + 1, ProgressNotify = true };
        await call.RequestStream.WriteAsync(new WatchRequest { CreateRequest = create }, ct);
        while (await call.ResponseStream.MoveNext(ct))
        {
            var response = call.ResponseStream.Current;
            if (response.Created)
            {
                _created.TrySetResult();
            }

            if (response.CompactRevision != 0)
            {
                EndWith($"etcd compacted the history at revision {response.CompactRevision}", response.CompactRevision);
                return true;
            }

            if (response.Canceled)
            {
                EndWith($"etcd canceled the watch: {response.CancelReason}", compactedAt: null);
                return true;
            }

            Record(response);
        }

        return false; // the server ended the stream: resume on a new one
    }

    private void Record(WatchResponse response)
    {
        lock (_lock)
        {
            foreach (var e in response.Events)
            {
                var kind = e.Type == Mvccpb.Event.Types.EventType.Delete ? WatchedEventKind.Delete : WatchedEventKind.Put;
                _events.Add(new WatchedEvent(kind, e.Kv.Key.ToStringUtf8(), e.Kv.Value.ToStringUtf8(), e.Kv.ModRevision, e.Kv.Lease));
                _revision = Math.Max(_revision, e.Kv.ModRevision);
            }

            // An empty, non-created response is a progress notification: everything up to its revision was sent.
            // The header revision of an event batch or of the created response proves nothing while catching up.
            if (response.Events.Count == 0 && !response.Created)
            {
                _revision = Math.Max(_revision, response.Header.Revision);
            }
        }

        Signal();
    }

    private void EndWith(string reason, long? compactedAt)
    {
        lock (_lock)
        {
            _stoppedBecause = reason;
            _compactedAt = compactedAt;
        }

        _created.TrySetResult();
        Signal();
    }

    private async Task WaitUntilAsync(Func<bool> condition, string what, TimeSpan? timeout, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout ?? DefaultWait);
        while (true)
        {
            Task changed;
            lock (_lock)
            {
                if (condition())
                {
                    return;
                }

                if (_stoppedBecause is { } reason)
                {
                    throw new InvalidOperationException($"waited for {what}, but the watch stopped: {reason}");
                }

                changed = _changed.Task;
            }

            try
            {
                await changed.WaitAsync(deadline.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested)
            {
                throw new TimeoutException($"timed out waiting for {what}; the watch is at revision {Revision} with {Events.Count} events");
            }
        }
    }

    private void Signal()
    {
        TaskCompletionSource previous;
        lock (_lock)
        {
            previous = _changed;
            _changed = NewSignal();
        }

        previous.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
