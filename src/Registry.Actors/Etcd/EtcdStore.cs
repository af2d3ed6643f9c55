using System.Diagnostics;
using System.Runtime.CompilerServices;
using dotnet_etcd;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Mvccpb;

namespace Registry.Etcd;

/// <summary>
/// <see cref="IRegistryStore"/> on a real etcd through dotnet-etcd's generated gRPC clients: one channel,
/// a deadline on every unary call, and one shared keep-alive stream.
/// </summary>
internal sealed class EtcdStore : IRegistryStore
{
    private readonly GrpcChannel _channel;
    private readonly RegistrySettings _settings;
    private readonly KV.KVClient _kv;
    private readonly Lease.LeaseClient _lease;
    private readonly Watch.WatchClient _watch;
    private readonly KeepAliveStream _keepAlive;
    private readonly BatchedKeyReader _keyChecks;
    private readonly TakeoverWriter _takeovers;
    private readonly SuspectMembers _suspects;
    private long _watches;

    /// <param name="settings">The registry's settings.</param>
    /// <param name="suspects">The members the channel avoids; its own by default.</param>
    public EtcdStore(RegistrySettings settings, SuspectMembers? suspects = null)
    {
        _settings = settings;
        suspects = _suspects = suspects ?? new SuspectMembers(settings.CallTimeout / 2);
        _channel = EtcdChannel.Create(settings, suspects);
        var connection = new EtcdClient(_channel.CreateCallInvoker()).GetConnection();
        _kv = connection.KVClient;
        _lease = connection.LeaseClient;
        _watch = connection.WatchClient;
        _keepAlive = new KeepAliveStream(_lease, settings, suspects);
        _keyChecks = new BatchedKeyReader(_kv, Unary);
        _takeovers = new TakeoverWriter(_kv, Unary);
    }

    /// <summary>
    /// Options of every unary call: a deadline, and wait-for-ready so a call made while the channel reconnects
    /// goes out the moment a connection is back instead of failing at once.
    /// </summary>
    private CallOptions Unary(CancellationToken ct) =>
        new CallOptions(deadline: DateTime.UtcNow + _settings.CallTimeout, cancellationToken: ct).WithWaitForReady();

    public async Task<LeaseGrant> GrantLeaseAsync(long ttlSeconds, CancellationToken ct)
    {
        var response = await _lease.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds }, Unary(ct));
        if (!string.IsNullOrEmpty(response.Error)) throw new InvalidOperationException($"etcd refused the lease: {response.Error}");
        return new LeaseGrant(response.ID, response.TTL);
    }

    public Task<long> KeepAliveAsync(long leaseId, TimeSpan patience, CancellationToken ct) => _keepAlive.RenewAsync(leaseId, patience, ct);

    public async Task<long> TimeToLiveAsync(long leaseId, CancellationToken ct)
    {
        var response = await _lease.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = leaseId }, Unary(ct));
        return response.TTL;
    }

    public async Task RevokeLeaseAsync(long leaseId, CancellationToken ct)
    {
        try
        {
            await _lease.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, Unary(ct));
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
            // Already expired or revoked: the keys bound to it are gone either way.
        }
    }

    public async Task<StoredValue?> GetAsync(string key, CancellationToken ct)
    {
        var response = await _kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8(key) }, Unary(ct));
        return response.Kvs.Count == 0 ? null : ToStored(response.Kvs[0]);
    }

    public Task<StoredValue?> CheckKeyAsync(string key, CancellationToken ct) => _keyChecks.ReadAsync(key, ct);

    public async Task<Listing> ListAsync(string prefix, CancellationToken ct)
    {
        var request = new RangeRequest { Key = ByteString.CopyFromUtf8(prefix), RangeEnd = PrefixEnd(prefix) };
        var response = await _kv.RangeAsync(request, Unary(ct));
        return new Listing(response.Header.Revision, response.Kvs.Select(ToStored).ToList());
    }

    public async Task<PutOutcome> PutAsync(string key, byte[] value, long leaseId, PutCondition condition, CancellationToken ct)
    {
        var put = new PutRequest { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFrom(value), Lease = leaseId, PrevKv = true };
        try
        {
            return condition is PutCondition.AlwaysCondition ? await PutAlwaysAsync(put, ct) : await PutIfAsync(put, condition, ct);
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound && leaseId != 0)
        {
            throw new LeaseNotFoundException(leaseId);
        }
    }

    /// <summary>
    /// An unconditional write is a put returning the previous value, the takeovers asked for together sent as one
    /// transaction (<see cref="TakeoverWriter"/>): the same atomic outcome as a transaction without a comparison
    /// each, in a fraction of the requests. etcd 3.4 before 3.4.24 also copies its whole uncommitted write buffer for
    /// every transaction, which made one transaction per registration cost 1.5× a put in a burst.
    /// </summary>
    private Task<PutOutcome> PutAlwaysAsync(PutRequest put, CancellationToken ct) => _takeovers.WriteAsync(put, ct);

    /// <summary>A conditional write is one transaction: etcd compares and writes (or reads the key's holder) at once.</summary>
    private async Task<PutOutcome> PutIfAsync(PutRequest put, PutCondition condition, CancellationToken ct)
    {
        var compare = condition switch
        {
            PutCondition.AbsentCondition => new Compare { Key = put.Key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Equal, CreateRevision = 0 },
            PutCondition.LeaseCondition bound => new Compare { Key = put.Key, Target = Compare.Types.CompareTarget.Lease, Result = Compare.Types.CompareResult.Equal, Lease = bound.LeaseId },
            _ => throw new ArgumentOutOfRangeException(nameof(condition), condition, null),
        };
        var txn = new TxnRequest { Compare = { compare } };
        if (condition is PutCondition.LeaseCondition { LeaseId: 0 }) txn.Compare.Add(Exists(put.Key));
        txn.Success.Add(new RequestOp { RequestPut = put });
        txn.Failure.Add(new RequestOp { RequestRange = new RangeRequest { Key = put.Key } });
        var response = await _kv.TxnAsync(txn, Unary(ct));
        var other = response.Succeeded
            ? response.Responses[0].ResponsePut.PrevKv is { } prev ? ToStored(prev) : null
            : response.Responses[0].ResponseRange.Kvs.Select(ToStored).FirstOrDefault();
        return new PutOutcome(response.Succeeded, response.Header.Revision, other);
    }

    public async Task<bool> DeleteUnleasedAsync(string key, CancellationToken ct)
    {
        var bytes = ByteString.CopyFromUtf8(key);
        var txn = new TxnRequest
        {
            Compare = { new Compare { Key = bytes, Target = Compare.Types.CompareTarget.Lease, Result = Compare.Types.CompareResult.Equal, Lease = 0 }, Exists(bytes) },
            Success = { new RequestOp { RequestDeleteRange = new DeleteRangeRequest { Key = bytes } } },
        };
        return (await _kv.TxnAsync(txn, Unary(ct))).Succeeded;
    }

    /// <summary>etcd compares a missing key as bound to lease 0: bound to no lease also needs the key to exist.</summary>
    private static Compare Exists(ByteString key) =>
        new() { Key = key, Target = Compare.Types.CompareTarget.Create, Result = Compare.Types.CompareResult.Greater, CreateRevision = 0 };

    public async IAsyncEnumerable<WatchBatch> WatchAsync(string prefix, long startRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var id = Interlocked.Increment(ref _watches);
        using var call = _watch.Watch(new CallOptions(EtcdChannel.Watch(id), cancellationToken: stop.Token).WithWaitForReady());
        var answeredAt = Stopwatch.GetTimestamp();
        // Progress is asked for only once the watch is created, one interval later. Asked for while a held connection
        // queues the requests, etcd before 3.4.25 / 3.5.8 would answer them all on the heal, at once and whether the
        // watch has caught up or not, before it cancels a watch opened below its compaction: the view would look live.
        Task? progress = null;
        try
        {
            await call.RequestStream.WriteAsync(new WatchRequest
            {
                CreateRequest = new WatchCreateRequest
                {
                    Key = ByteString.CopyFromUtf8(prefix),
                    RangeEnd = PrefixEnd(prefix),
                    StartRevision = startRevision,
                    PrevKv = true,
                    ProgressNotify = true,
                },
            }, stop.Token);
            while (await call.ResponseStream.MoveNext(stop.Token))
            {
                answeredAt = Stopwatch.GetTimestamp();
                var response = call.ResponseStream.Current;
                if (response.CompactRevision != 0) throw new RevisionCompactedException(response.CompactRevision);
                if (response.Canceled)
                    throw new RpcException(new Status(StatusCode.Unavailable, $"etcd cancelled the watch: {response.CancelReason}"));
                progress ??= RequestProgressAsync(call.RequestStream, _settings.Discovery.ProgressInterval, stop.Token);
                // Created and progress responses come as empty batches: proof the stream is alive.
                yield return new WatchBatch(response.Header.Revision, response.Events.Select(ToEvent).ToList());
            }
            throw new RpcException(new Status(StatusCode.Unavailable, "etcd closed the watch stream"));
        }
        finally
        {
            // Dropped by its consumer while silent (the watcher drops a stream silent for its silence timeout): its member
            // may hang with the connection open, and a new stream must not go back there.
            _suspects.WatchEnded(id, stuck: ct.IsCancellationRequested && Stopwatch.GetElapsedTime(answeredAt) >= WatchStuckAfter);
            await stop.CancelAsync();
            if (progress is not null) await progress;
        }
    }

    /// <summary>
    /// How long a watch stream dropped by its consumer must have been silent to count as stuck: longer than a live one
    /// is (it answers each progress request, one per progress interval), with a margin below the silence timeout after
    /// which the watcher drops one (it counts from when it handled the last answer, or from before the stream started).
    /// </summary>
    private TimeSpan WatchStuckAfter =>
        _settings.Discovery.ProgressInterval + (_settings.Discovery.SilenceTimeout - _settings.Discovery.ProgressInterval) / 2;

    /// <summary>
    /// Asks for a progress notification every <c>registry.discovery.progress-interval</c>; etcd's own periodic
    /// ones come only every 10 minutes by default, too rarely to notice a stream that went silent. Never fails: a write
    /// fails when the stream broke or ended (an <see cref="RpcException"/>, or "the call is complete"), which the reader
    /// sees and reports; a failure here would replace the reader's, a compaction's included.
    /// </summary>
    internal static async Task RequestProgressAsync(IClientStreamWriter<WatchRequest> requests, TimeSpan interval, CancellationToken ct)
    {
        try
        {
            using var timer = new PeriodicTimer(interval);
            while (await timer.WaitForNextTickAsync(ct))
                await requests.WriteAsync(new WatchRequest { ProgressRequest = new WatchProgressRequest() }, ct);
        }
        catch (Exception)
        {
            // Cancelled with the watch, or the stream broke or ended.
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _keepAlive.DisposeAsync();
        await _keyChecks.DisposeAsync();
        await _takeovers.DisposeAsync();
        _channel.Dispose();
    }

    private static WatchEvent ToEvent(Event e) => new(
        e.Type == Event.Types.EventType.Delete ? WatchEventKind.Delete : WatchEventKind.Put,
        ToStored(e.Kv),
        e.PrevKv is { } prev ? ToStored(prev) : null);

    internal static StoredValue ToStored(KeyValue kv) =>
        new(KeyText(kv.Key.Span), kv.Value.ToByteArray(), kv.Lease, kv.CreateRevision, kv.ModRevision);

    /// <summary>
    /// A key as text. etcd keys are bytes: each byte of a key that is not valid UTF-8 becomes a lone surrogate
    /// (U+DC00 + byte), which no valid key decodes to, so two such keys stay apart and never pass for a registry key
    /// (decoding them with replacement characters made "a\xFF" and "a\xFE" one key, and that of an id holding U+FFFD).
    /// </summary>
    internal static string KeyText(ReadOnlySpan<byte> key)
    {
        if (System.Text.Unicode.Utf8.IsValid(key)) return System.Text.Encoding.UTF8.GetString(key);
        var text = new System.Text.StringBuilder(key.Length);
        while (!key.IsEmpty)
        {
            if (System.Text.Rune.DecodeFromUtf8(key, out var rune, out var length) == System.Buffers.OperationStatus.Done)
            {
                text.Append(rune.ToString());
                key = key[length..];
            }
            else
            {
                text.Append((char)(0xDC00 + key[0]));
                key = key[1..];
            }
        }
        return text.ToString();
    }

    /// <summary>The range end that makes a range request cover every key starting with <paramref name="prefix"/>.</summary>
    private static ByteString PrefixEnd(string prefix)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (var i = bytes.Length - 1; i >= 0; i--)
        {
            if (bytes[i] == 0xff) continue;
            bytes[i]++;
            return ByteString.CopyFrom(bytes, 0, i + 1);
        }
        return ByteString.CopyFrom(0);
    }
}
