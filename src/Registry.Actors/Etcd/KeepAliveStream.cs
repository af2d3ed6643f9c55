using Etcdserverpb;
using Grpc.Core;

namespace Registry.Etcd;

/// <summary>
/// One bidirectional LeaseKeepAlive stream shared by every lease of a client, as etcd's Go client multiplexes
/// them. Each renewal writes one request and awaits the response for its lease id; a reader consumes every
/// response. When the stream breaks, or a renewal gets no answer within the call timeout (a stream stuck on a
/// held connection), the stream is dropped and the next renewal re-opens it after a jittered back-off.
/// </summary>
internal sealed class KeepAliveStream(Lease.LeaseClient client, RegistrySettings settings) : IAsyncDisposable
{
    private readonly object _gate = new();
    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Dictionary<long, List<TaskCompletionSource<long>>> _waiters = new();
    private readonly CancellationTokenSource _disposed = new();
    private readonly Backoff _backoff = new(settings.StreamMinBackoff, settings.StreamMaxBackoff, 0.5);
    private AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? _call;
    private int _consecutiveFailures;
    private DateTime _reopenNotBefore = DateTime.MinValue;

    /// <summary>Renews <paramref name="leaseId"/> once; returns its TTL now, 0 when etcd no longer has it.</summary>
    public async Task<long> RenewAsync(long leaseId, CancellationToken ct)
    {
        var waiter = new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_gate)
        {
            if (!_waiters.TryGetValue(leaseId, out var list)) _waiters[leaseId] = list = [];
            list.Add(waiter);
        }
        try
        {
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(ct, _disposed.Token);
            linked.CancelAfter(settings.CallTimeout);
            var call = await SendAsync(leaseId, linked.Token);
            try
            {
                return await waiter.Task.WaitAsync(linked.Token);
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested && !_disposed.IsCancellationRequested)
            {
                Break(call, new TimeoutException($"no keep-alive response for lease {leaseId:x} within {settings.CallTimeout.TotalMilliseconds:0} ms"));
                throw new TimeoutException($"keep-alive of lease {leaseId:x} timed out after {settings.CallTimeout.TotalMilliseconds:0} ms");
            }
        }
        finally
        {
            lock (_gate)
            {
                if (_waiters.TryGetValue(leaseId, out var list) && list.Remove(waiter) && list.Count == 0) _waiters.Remove(leaseId);
            }
        }
    }

    private async Task<AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>> SendAsync(long leaseId, CancellationToken ct)
    {
        await _writeLock.WaitAsync(ct);
        AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? call = null;
        try
        {
            call = await OpenAsync(ct);
            await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = leaseId }, ct);
            return call;
        }
        catch (Exception e) when (call is not null && e is not OperationCanceledException)
        {
            Break(call, e);
            throw;
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task<AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>> OpenAsync(CancellationToken ct)
    {
        lock (_gate)
        {
            if (_call is not null) return _call;
        }
        var wait = _reopenNotBefore - DateTime.UtcNow;
        if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
        var call = client.LeaseKeepAlive(new CallOptions(EtcdChannel.RequireLeader(), cancellationToken: _disposed.Token).WithWaitForReady());
        lock (_gate) _call = call;
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
                List<TaskCompletionSource<long>>? waiters;
                lock (_gate)
                {
                    _consecutiveFailures = 0;
                    _waiters.Remove(response.ID, out waiters);
                }
                waiters?.ForEach(w => w.TrySetResult(response.TTL));
            }
        }
        catch (Exception e)
        {
            failure = e;
        }
        Break(call, failure ?? new RpcException(new Status(StatusCode.Unavailable, "keep-alive stream closed by etcd")));
    }

    /// <summary>Drops <paramref name="call"/> if it is still the current stream and fails every waiter on it.</summary>
    private void Break(AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse> call, Exception reason)
    {
        List<TaskCompletionSource<long>> waiters;
        lock (_gate)
        {
            if (!ReferenceEquals(_call, call)) return;
            _call = null;
            _reopenNotBefore = DateTime.UtcNow + _backoff.Delay(_consecutiveFailures++);
            waiters = _waiters.Values.SelectMany(w => w).ToList();
            _waiters.Clear();
        }
        call.Dispose();
        foreach (var waiter in waiters) waiter.TrySetException(reason);
    }

    public ValueTask DisposeAsync()
    {
        _disposed.Cancel();
        AsyncDuplexStreamingCall<LeaseKeepAliveRequest, LeaseKeepAliveResponse>? call;
        lock (_gate) (call, _call) = (_call, null);
        call?.Dispose();
        return ValueTask.CompletedTask;
    }
}
