using System.Threading.Channels;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mvccpb;

namespace Registry.Etcd;

/// <summary>
/// Reads keys for the registrations' periodic key checks in batches: the reads asked for within one window go to
/// etcd as one read-only transaction of up to <see cref="MaxReads"/> range reads, so 10,000 registrations checking
/// their keys every 10 s cost about ten requests a second instead of a thousand. A check is not urgent (it runs every
/// TTL), so waiting for the window costs it nothing. A batch that fails fails each of its reads.
/// </summary>
internal sealed class BatchedKeyReader : IAsyncDisposable
{
    /// <summary>etcd's default limit of operations in one transaction (<c>--max-txn-ops</c>).</summary>
    public const int MaxReads = 128;

    /// <summary>How long the first read of a batch waits for others to join it.</summary>
    public static readonly TimeSpan Window = TimeSpan.FromMilliseconds(100);

    private readonly KV.KVClient _kv;
    private readonly Func<CancellationToken, CallOptions> _options;
    // Not SingleReader: only the multi-reader channel can count what is queued.
    private readonly Channel<Read> _queue = Channel.CreateUnbounded<Read>();
    private readonly CancellationTokenSource _disposed = new();
    private readonly Task _loop;
    private int _maxReads = MaxReads;

    /// <param name="kv">The KV client.</param>
    /// <param name="options">The options of one unary call (deadline, wait-for-ready).</param>
    public BatchedKeyReader(KV.KVClient kv, Func<CancellationToken, CallOptions> options)
    {
        _kv = kv;
        _options = options;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Reads <paramref name="key"/> in the next batch; null when absent.</summary>
    public Task<StoredValue?> ReadAsync(string key, CancellationToken ct)
    {
        var read = new Read(key);
        if (!_queue.Writer.TryWrite(read)) return Task.FromCanceled<StoredValue?>(new CancellationToken(canceled: true));
        return read.Task.WaitAsync(ct);
    }

    private async Task RunAsync()
    {
        var queue = _queue.Reader;
        var ct = _disposed.Token;
        try
        {
            while (await queue.WaitToReadAsync(ct))
            {
                if (queue.Count < _maxReads) await Task.Delay(Window, ct);
                var batch = new List<Read>(Math.Min(queue.Count, _maxReads));
                while (batch.Count < _maxReads && queue.TryRead(out var read)) batch.Add(read);
                // Batches do not wait for each other: a burst of checks (after a heal) drains at once.
                _ = ReadBatchAsync(batch, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
        while (queue.TryRead(out var left)) left.TrySetCanceled(ct);
    }

    private async Task ReadBatchAsync(List<Read> batch, CancellationToken ct)
    {
        try
        {
            var txn = new TxnRequest();
            foreach (var read in batch) txn.Success.Add(new RequestOp { RequestRange = new RangeRequest { Key = ByteString.CopyFromUtf8(read.Key) } });
            TxnResponse response;
            try
            {
                response = await _kv.TxnAsync(txn, _options(ct));
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.InvalidArgument && batch.Count > 1)
            {
                // etcd runs with a lower --max-txn-ops: read this batch key by key, and send smaller batches from now on.
                _maxReads = Math.Max(1, Math.Min(_maxReads, batch.Count) / 2);
                await Task.WhenAll(batch.Select(async read =>
                {
                    var single = await _kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(read.Key) }, _options(ct));
                    read.TrySetResult(single.Kvs.Count == 0 ? null : EtcdStore.ToStored(single.Kvs[0]));
                }));
                return;
            }
            for (var i = 0; i < batch.Count; i++)
            {
                var kvs = response.Responses[i].ResponseRange.Kvs;
                batch[i].TrySetResult(kvs.Count == 0 ? null : EtcdStore.ToStored(kvs[0]));
            }
        }
        catch (Exception e)
        {
            foreach (var read in batch) read.TrySetException(e);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Closed first: nothing can join the queue once the loop has cancelled what is left in it.
        _queue.Writer.TryComplete();
        await _disposed.CancelAsync();
        await _loop;
    }

    private sealed class Read(string key) : TaskCompletionSource<StoredValue?>(TaskCreationOptions.RunContinuationsAsynchronously)
    {
        public string Key { get; } = key;
    }
}
