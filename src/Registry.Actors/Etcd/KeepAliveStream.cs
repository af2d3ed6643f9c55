using System.Diagnostics;
using System.Threading.Channels;
using Etcdserverpb;
using Grpc.Core;

namespace Registry.Etcd;

/// <summary>
/// One bidirectional LeaseKeepAlive stream shared by every lease of a client, as etcd's Go client multiplexes
/// them. A renewal queues its lease id and awaits the response for it; one writer drains the queue onto the stream
/// and one reader consumes every response. When the stream breaks, or owes answers and has sent none for the call
/// timeout or the shortest patience of the renewals waiting (a stream stuck on a held connection or a member that
/// hangs), it is dropped and re-opened after a jittered back-off, on another member than the stuck one when one is
/// ready (<see cref="SuspectMembers"/>).
/// </summary>
/// <remarks>
/// Built for thousands of leases: a renewal costs no timer, no lock held across I/O and no stream-wide failure of
/// its own. A renewal unanswered within the call timeout fails alone; only a stream that answers nothing for that long
/// is broken. (A timeout per renewal that broke the stream turned a long queue behind a slow etcd into a stream
/// broken again and again, every lease failing at once and retrying at once.) Queued ids whose renewal has already
/// ended are not sent.
/// </remarks>
internal sealed class KeepAliveStream : IAsyncDisposable
{
    private readonly Lease.LeaseClient _client;
    private readonly RegistrySettings _settings;
    private readonly SuspectMembers _suspects;
    private readonly long _timeoutTicks;
    private readonly object _gate = new();
    private readonly Dictionary<long, List<Waiter>> _waiters = new();
    private readonly Channel<long> _queue = Channel.CreateUnbounded<long>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _disposed = new();
    private readonly Backoff _backoff;
    private readonly Timer _watchdog;
    private readonly Task _writer;
    private AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? _call;
    private int _unanswered;
    private long _silentSince;
    private int _consecutiveFailures;
    // A Stopwatch timestamp: the wall clock could be stepped back meanwhile, and the writer would wait that long.
    private long _reopenNotBefore;

    public KeepAliveStream(Lease.LeaseClient client, RegistrySettings settings, SuspectMembers suspects)
    {
        _client = client;
        _suspects = suspects;
        _settings = settings;
        _timeoutTicks = (long)(settings.CallTimeout.TotalSeconds * Stopwatch.Frequency);
        _backoff = new Backoff(settings.StreamMinBackoff, settings.StreamMaxBackoff, 0.5);
        var period = settings.CallTimeout / 8;
        _watchdog = new Timer(_ => Watch(), null, period, period);
        _writer = Task.Run(WriteAsync);
    }

    /// <summary>
    /// Renews <paramref name="leaseId"/> once; returns its TTL now, 0 when etcd no longer has it. The stream is taken
    /// as stuck when it answers nothing for <paramref name="patience"/> (at most the call timeout) while this waits.
    /// </summary>
    public async Task<long> RenewAsync(long leaseId, TimeSpan patience, CancellationToken ct)
    {
        var patienceTicks = patience >= _settings.CallTimeout ? _timeoutTicks : (long)(patience.TotalSeconds * Stopwatch.Frequency);
        var waiter = new Waiter(leaseId, Stopwatch.GetTimestamp(), patienceTicks);
        lock (_gate)
        {
            // Under the lock: DisposeAsync cancels first, then ends every waiter added before it takes the lock.
            _disposed.Token.ThrowIfCancellationRequested();
            if (!_waiters.TryGetValue(leaseId, out var list)) _waiters[leaseId] = list = [];
            list.Add(waiter);
        }
        try
        {
            _queue.Writer.TryWrite(leaseId);
            return await waiter.Task.WaitAsync(ct);
        }
        finally
        {
            lock (_gate)
            {
                if (_waiters.TryGetValue(leaseId, out var list) && list.Remove(waiter) && list.Count == 0) _waiters.Remove(leaseId);
            }
        }
    }

    /// <summary>The single writer: opens the stream when needed and writes every queued id still awaited.</summary>
    private async Task WriteAsync()
    {
        var queue = _queue.Reader;
        try
        {
            while (await queue.WaitToReadAsync(_disposed.Token))
            {
                AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? call = null;
                try
                {
                    call = await OpenAsync(_disposed.Token);
                    while (queue.TryRead(out var leaseId))
                    {
                        lock (_gate)
                        {
                            if (!_waiters.ContainsKey(leaseId)) continue;
                            if (!ReferenceEquals(_call, call))
                            {
                                // Broken since it was opened: this id goes out on the next stream.
                                _queue.Writer.TryWrite(leaseId);
                                break;
                            }
                            if (_unanswered++ == 0) _silentSince = Stopwatch.GetTimestamp();
                        }
                        await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leaseId }, _disposed.Token);
                    }
                }
                catch (Exception e) when (!_disposed.IsCancellationRequested)
                {
                    if (call is not null)
                    {
                        Break(call, e);
                    }
                    else
                    {
                        // Could not even open a stream: back off; the waiters time out and their leases retry.
                        lock (_gate) _reopenNotBefore = ReopenAfter(_backoff.Delay(_consecutiveFailures++));
                    }
                }
            }
        }
        catch (Exception) when (_disposed.IsCancellationRequested)
        {
        }
    }

    private async Task<AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>> OpenAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            if (_call is not null) return _call;
        }
        var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), Volatile.Read(ref _reopenNotBefore));
        if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
        _suspects.ForgetKeepAliveMember();
        var call = _client.LeaseKeepAlive(new CallOptions(EtcdChannel.RequireLeader(), cancellationToken: _disposed.Token).WithWaitForReady());
        lock (_gate)
        {
            _call = call;
            _unanswered = 0;
            _silentSince = 0;
        }
        _ = ReadAsync(call);
        return call;
    }

    private async Task ReadAsync(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call)
    {
        Exception? failure = null;
        try
        {
            while (await call.ResponseStream.MoveNext(_disposed.Token))
            {
                var response = call.ResponseStream.Current;
                List<Waiter>? waiters;
                lock (_gate)
                {
                    _consecutiveFailures = 0;
                    if (ReferenceEquals(_call, call))
                    {
                        _unanswered = Math.Max(0, _unanswered - 1);
                        _silentSince = _unanswered == 0 ? 0 : Stopwatch.GetTimestamp();
                    }
                    _waiters.Remove(response.ID, out waiters);
                }
                if (waiters is null) continue;
                foreach (var waiter in waiters) waiter.TrySetResult(response.TTL);
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        Break(call, failure ?? new RpcException(new Status(StatusCode.Unavailable, "keep-alive stream closed by etcd")));
    }

    /// <summary>
    /// Runs every call timeout / 8: breaks the stream when it owes answers and has sent none for the call timeout, or
    /// for the patience of a renewal waiting when shorter, and fails each renewal that has waited longer than the call
    /// timeout.
    /// </summary>
    private void Watch()
    {
        AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? stuck = null;
        List<Waiter>? expired = null;
        var now = Stopwatch.GetTimestamp();
        var patience = _timeoutTicks;
        lock (_gate)
        {
            foreach (var list in _waiters.Values)
            {
                foreach (var waiter in list)
                {
                    patience = Math.Min(patience, waiter.PatienceTicks);
                    if (now - waiter.Since > _timeoutTicks) (expired ??= []).Add(waiter);
                }
            }
            if (_call is not null && _silentSince != 0 && now - _silentSince > patience) stuck = _call;
        }
        if (stuck is not null)
        {
            // The member may hang with its connection open: the channel still counts it as ready.
            _suspects.SuspectKeepAliveMember();
            var silence = TimeSpan.FromSeconds((double)patience / Stopwatch.Frequency);
            Break(stuck, new TimeoutException($"no keep-alive response within {silence.TotalMilliseconds:0} ms: etcd unreachable, or the stream stuck"));
        }
        if (expired is null) return;
        var timeout = $"{_settings.CallTimeout.TotalMilliseconds:0} ms";
        foreach (var waiter in expired) waiter.TrySetException(new TimeoutException($"keep-alive of lease {waiter.LeaseId:x} timed out after {timeout}"));
    }

    /// <summary>Drops <paramref name="call"/> if it is still the current stream and fails every waiter.</summary>
    private void Break(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call, Exception reason)
    {
        List<Waiter> waiters;
        lock (_gate)
        {
            if (!ReferenceEquals(_call, call)) return;
            _call = null;
            _unanswered = 0;
            _silentSince = 0;
            _reopenNotBefore = ReopenAfter(_backoff.Delay(_consecutiveFailures++));
            waiters = _waiters.Values.SelectMany(w => w).ToList();
            _waiters.Clear();
        }
        call.Dispose();
        foreach (var waiter in waiters) waiter.TrySetException(reason);
    }

    private static long ReopenAfter(TimeSpan delay) => Stopwatch.GetTimestamp() + (long)(delay.TotalSeconds * Stopwatch.Frequency);

    public async ValueTask DisposeAsync()
    {
        await _disposed.CancelAsync();
        _queue.Writer.TryComplete();
        await _watchdog.DisposeAsync();
        AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? call;
        List<Waiter> waiters;
        lock (_gate)
        {
            (call, _call) = (_call, null);
            waiters = _waiters.Values.SelectMany(w => w).ToList();
            _waiters.Clear();
        }
        call?.Dispose();
        foreach (var waiter in waiters) waiter.TrySetCanceled();
        await _writer;
    }

    /// <summary>
    /// One renewal waiting for its response; <see cref="Since"/> is when it was asked for (a Stopwatch timestamp), and
    /// <see cref="PatienceTicks"/> how long the stream may answer nothing meanwhile.
    /// </summary>
    private sealed class Waiter(long leaseId, long since, long patienceTicks) : TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public long LeaseId { get; } = leaseId;

        public long Since { get; } = since;

        public long PatienceTicks { get; } = patienceTicks;
    }
}
