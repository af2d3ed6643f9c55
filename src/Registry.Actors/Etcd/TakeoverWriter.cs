using System.Threading.Channels;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mvccpb;

namespace Registry.Etcd;

/// <summary>
/// Sends the unconditional writes of fresh registrations (the newer registration takes the key over) to etcd, at most
/// <see cref="MaxInFlight"/> requests at a time. Writes asked for while those are in flight go out together as one
/// transaction of up to <see cref="MaxPuts"/> puts, each answered with its own previous value: a burst of registrations
/// costs etcd a few requests instead of one per instance. A lone write goes out as a plain put. A transaction etcd
/// refuses as a whole (a lease among them gone, too many operations, too large) is retried write by write, so each
/// write gets its own answer; any other failure fails each write of the transaction. Writes of one key go out one at a
/// time, in the order asked: a write whose key is in flight waits for that request's answer (and only it does), since
/// etcd may apply two requests in flight at once in either order. A failed answer (a deadline, a broken connection)
/// says nothing of whether etcd applied the write, which may still land after a later one: the LeaseActor's key check
/// then finds a value it did not write and writes its own back.
/// </summary>
internal sealed class TakeoverWriter : IAsyncDisposable
{
    /// <summary>etcd's default limit of operations in one transaction (<c>--max-txn-ops</c>).</summary>
    public const int MaxPuts = 128;

    /// <summary>
    /// Requests in flight at once; a write waits for a free one at most about one call timeout. Enough to keep up when
    /// etcd answers slowly (with 4, 10,000 registrations made 500 at a time while the earlier ones renewed took 24–33 s,
    /// some leases expiring before their first renewal; with 64, 2.5–5.3 s), few enough that a burst still finds them
    /// all busy and batches the rest.
    /// </summary>
    public const int MaxInFlight = 64;

    /// <summary>Bytes of keys and values in one transaction, well under etcd's default <c>--max-request-bytes</c> (1.5 MiB).</summary>
    public const int MaxBytes = 512 * 1024;

    private readonly KV.KVClient _kv;
    private readonly Func<CancellationToken, CallOptions> _options;
    private readonly Channel<Write> _queue = Channel.CreateUnbounded<Write>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _slots = new(MaxInFlight);
    private readonly CancellationTokenSource _disposed = new();
    private readonly object _gate = new();
    // The keys in flight, each with the writes parked behind it (null until one is: most keys never see a second write).
    private readonly Dictionary<ByteString, Queue<Write>?> _busy = new();
    private readonly Task _loop;
    private int _maxPuts = MaxPuts;

    /// <param name="kv">The KV client.</param>
    /// <param name="options">The options of one unary call (deadline, wait-for-ready).</param>
    public TakeoverWriter(KV.KVClient kv, Func<CancellationToken, CallOptions> options)
    {
        _kv = kv;
        _options = options;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>
    /// Writes <paramref name="put"/> (which asks for the previous value) whatever the key holds. Fails with etcd's
    /// <see cref="RpcException"/>, <see cref="StatusCode.NotFound"/> when the put's lease is gone.
    /// </summary>
    public Task<PutOutcome> WriteAsync(PutRequest put, CancellationToken ct)
    {
        var write = new Write(put, ct);
        if (!_queue.Writer.TryWrite(write)) return Task.FromCanceled<PutOutcome>(new CancellationToken(canceled: true));
        return write.Task.WaitAsync(ct);
    }

    private async Task RunAsync()
    {
        var queue = _queue.Reader;
        var ct = _disposed.Token;
        // A write that could not join the last batch (full) leads the next one.
        Write? held = null;
        try
        {
            while (held is not null || await queue.WaitToReadAsync(ct))
            {
                await _slots.WaitAsync(ct);
                var batch = Take(queue, ref held);
                if (batch.Count == 0) _slots.Release();
                else _ = SendAsync(batch, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        held?.TrySetCanceled(ct);
        while (queue.TryRead(out var left)) left.TrySetCanceled(ct);
        lock (_gate)
        {
            foreach (var parked in _busy.Values.SelectMany(w => w ?? [])) parked.TrySetCanceled(ct);
            _busy.Clear();
        }
    }

    /// <summary>
    /// The next batch: at most <see cref="_maxPuts"/> puts and <see cref="MaxBytes"/>, no key in flight (a write of one
    /// is parked behind it); writes whose caller gave up are dropped.
    /// </summary>
    private List<Write> Take(ChannelReader<Write> queue, ref Write? held)
    {
        var batch = new List<Write>();
        var bytes = 0;
        var next = held;
        held = null;
        while (next is not null || queue.TryRead(out next))
        {
            var size = next.Put.CalculateSize();
            if (batch.Count > 0 && (batch.Count >= _maxPuts || bytes + size > MaxBytes))
            {
                held = next;
                break;
            }
            if (Claim(next))
            {
                batch.Add(next);
                bytes += size;
            }
            next = null;
        }
        return batch;
    }

    /// <summary>
    /// Marks <paramref name="write"/>'s key in flight and returns true, or parks the write behind the one in flight,
    /// or drops it when its caller gave up (the key then passes to the next write parked behind it).
    /// </summary>
    private bool Claim(Write write)
    {
        lock (_gate)
        {
            if (!write.Released)
            {
                if (_busy.TryGetValue(write.Put.Key, out var parked))
                {
                    (_busy[write.Put.Key] = parked ?? new Queue<Write>()).Enqueue(write);
                    return false;
                }
                _busy[write.Put.Key] = null;
            }
        }
        if (!write.AbandonIfUnwanted()) return true;
        Answered(write);
        return false;
    }

    /// <summary>Frees the key of a write that has its answer: the next write parked behind it goes out.</summary>
    private void Answered(Write write)
    {
        Write? next;
        lock (_gate)
        {
            if (!_busy.TryGetValue(write.Put.Key, out var parked)) return;
            if (parked is null || !parked.TryDequeue(out next))
            {
                _busy.Remove(write.Put.Key);
                return;
            }
            next.Released = true;
        }
        if (!_queue.Writer.TryWrite(next)) next.TrySetCanceled(_disposed.Token);
    }

    private async Task SendAsync(List<Write> batch, CancellationToken ct)
    {
        try
        {
            if (batch.Count == 1)
            {
                await PutAloneAsync(batch[0], ct);
                return;
            }
            var txn = new TxnRequest();
            foreach (var write in batch) txn.Success.Add(new RequestOp { RequestPut = write.Put });
            TxnResponse response;
            try
            {
                response = await _kv.TxnAsync(txn, _options(ct));
            }
            catch (RpcException e) when (e.StatusCode is StatusCode.NotFound or StatusCode.InvalidArgument || IsTooLarge(e))
            {
                // Too many operations or too large for this etcd: send smaller batches from now on. (A lease gone
                // refuses the whole batch too: each write is then answered on its own.) Etcd's other ResourceExhausted
                // answers, too many requests or its space quota exceeded, fail each write below, for its caller's back-off.
                if (e.StatusCode != StatusCode.NotFound) _maxPuts = Math.Max(2, Math.Min(_maxPuts, batch.Count) / 2);
                await Task.WhenAll(batch.Select(write => PutAloneAsync(write, ct)));
                return;
            }
            for (var i = 0; i < batch.Count; i++) batch[i].TrySetResult(Outcome(response.Header.Revision, response.Responses[i].ResponsePut.PrevKv));
        }
        catch (Exception e)
        {
            foreach (var write in batch) write.TrySetException(e);
        }
        finally
        {
            foreach (var write in batch) Answered(write);
            _slots.Release();
        }
    }

    /// <summary>A request grpc refused as larger than the receiver takes (etcd's max-request-bytes and some overhead).</summary>
    private static bool IsTooLarge(RpcException e) =>
        e.StatusCode == StatusCode.ResourceExhausted && e.Status.Detail.Contains("larger than max", StringComparison.Ordinal);

    private async Task PutAloneAsync(Write write, CancellationToken ct)
    {
        try
        {
            var response = await _kv.PutAsync(write.Put, _options(ct));
            write.TrySetResult(Outcome(response.Header.Revision, response.PrevKv));
        }
        catch (Exception e)
        {
            write.TrySetException(e);
        }
    }

    private static PutOutcome Outcome(long revision, KeyValue? previous) =>
        new(true, revision, previous is null ? null : EtcdStore.ToStored(previous));

    public async ValueTask DisposeAsync()
    {
        // Closed first: nothing can join the queue once the loop has cancelled what is left in it.
        _queue.Writer.TryComplete();
        await _disposed.CancelAsync();
        await _loop;
    }

    private sealed class Write(PutRequest put, CancellationToken ct) : TaskCompletionSource<PutOutcome>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public PutRequest Put { get; } = put;

        /// <summary>Set when the write it was parked behind has its answer: its key is its own now.</summary>
        public bool Released { get; set; }

        /// <summary>Ends the write unsent when its caller stopped waiting before it was sent; true when it did.</summary>
        public bool AbandonIfUnwanted() => ct.IsCancellationRequested && TrySetCanceled(ct);
    }
}
