using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mvccpb;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

/// <summary>The batched reads of the registrations' key checks, on a KV client that records what it is asked.</summary>
public sealed class BatchedKeyReaderTests
{
    [Fact]
    public async Task Reads_asked_together_go_out_as_transactions_of_at_most_128_reads_each_with_its_own_answer()
    {
        var kv = new RecordingKv(Enumerable.Range(0, 300).Where(i => i % 3 != 0).ToDictionary(Key, i => 7L + i));
        await using var reader = new BatchedKeyReader(kv, Options);

        var values = await Task.WhenAll(Enumerable.Range(0, 300).Select(i => reader.ReadAsync(Key(i), CancellationToken.None)));

        for (var i = 0; i < 300; i++)
        {
            if (i % 3 == 0) Assert.Null(values[i]);
            else Assert.Equal((Key(i), 7L + i), (values[i]!.Key, values[i]!.LeaseId));
        }
        // Three when all 300 are queued within the first read's window; a few more if this thread stalls meanwhile.
        Assert.InRange(kv.Transactions.Count, 3, 10);
        Assert.Equal(300, kv.Transactions.Sum());
        Assert.All(kv.Transactions, size => Assert.InRange(size, 1, BatchedKeyReader.MaxReads));
        Assert.Equal(0, kv.Ranges);
    }

    [Fact]
    public async Task When_etcd_allows_fewer_operations_per_transaction_the_batch_is_read_key_by_key_and_later_batches_shrink()
    {
        var kv = new RecordingKv(Enumerable.Range(0, 100).ToDictionary(Key, i => (long)i)) { MaxOps = 16 };
        await using var reader = new BatchedKeyReader(kv, Options);

        var first = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => reader.ReadAsync(Key(i), CancellationToken.None)));
        var second = await Task.WhenAll(Enumerable.Range(0, 100).Select(i => reader.ReadAsync(Key(i), CancellationToken.None)));

        Assert.All(first.Concat(second).Select((v, i) => (v, i % 100)), x => Assert.Equal(x.Item2, x.v!.LeaseId));
        Assert.True(kv.Ranges >= 100, $"{kv.Ranges} single reads");
        // A stall while the first reads are asked can split them over two batches: the shrinking starts after the
        // first one etcd refused.
        var refused = kv.Transactions.FindIndex(size => size > kv.MaxOps);
        Assert.True(refused >= 0, "no batch was refused");
        Assert.All(kv.Transactions.Skip(refused + 1), size => Assert.InRange(size, 1, 64));
    }

    [Fact]
    public async Task A_failed_batch_fails_each_of_its_reads()
    {
        var kv = new RecordingKv([]) { Failure = new RpcException(new Status(StatusCode.Unavailable, "down")) };
        await using var reader = new BatchedKeyReader(kv, Options);

        var reads = Enumerable.Range(0, 5).Select(i => reader.ReadAsync(Key(i), CancellationToken.None)).ToArray();

        foreach (var read in reads) await Assert.ThrowsAsync<RpcException>(() => read);
    }

    private static CallOptions Options(CancellationToken ct) => new(cancellationToken: ct);

    private static string Key(int i) => $"/services/user/10.0.0.{i}:80";

    /// <summary>Answers transactions of range reads from a map of key → lease, refusing more than <see cref="MaxOps"/> per transaction.</summary>
    private sealed class RecordingKv(Dictionary<string, long> keys) : KV.KVClient
    {
        public readonly List<int> Transactions = [];
        public int Ranges;

        public int MaxOps { get; init; } = 128;

        public Exception? Failure { get; init; }

        public override AsyncUnaryCall<TxnResponse> TxnAsync(TxnRequest request, CallOptions options)
        {
            lock (Transactions) Transactions.Add(request.Success.Count);
            if (Failure is not null) return Call(Task.FromException<TxnResponse>(Failure));
            if (request.Success.Count > MaxOps)
                return Call(Task.FromException<TxnResponse>(new RpcException(new Status(StatusCode.InvalidArgument, "etcdserver: too many operations in txn request"))));
            var response = new TxnResponse { Succeeded = true };
            foreach (var op in request.Success) response.Responses.Add(new ResponseOp { ResponseRange = Read(op.RequestRange) });
            return Call(Task.FromResult(response));
        }

        public override AsyncUnaryCall<RangeResponse> RangeAsync(RangeRequest request, CallOptions options)
        {
            Interlocked.Increment(ref Ranges);
            return Call(Task.FromResult(Read(request)));
        }

        private RangeResponse Read(RangeRequest request)
        {
            var key = request.Key.ToStringUtf8();
            var response = new RangeResponse();
            if (keys.TryGetValue(key, out var lease))
                response.Kvs.Add(new KeyValue { Key = request.Key, Value = ByteString.CopyFromUtf8("{}"), Lease = lease });
            return response;
        }

        private static AsyncUnaryCall<T> Call<T>(Task<T> response) =>
            new(response, Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });
    }
}
