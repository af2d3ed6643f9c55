using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Mvccpb;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

/// <summary>The takeover writes of fresh registrations, on a KV client that records what it is asked and answers when told.</summary>
public sealed class TakeoverWriterTests
{
    [Fact]
    public async Task A_lone_write_goes_out_as_a_put_and_reports_the_previous_value()
    {
        var kv = new RecordingKv();
        kv.Seed(Key(1), "theirs", lease: 7);
        await using var writer = new TakeoverWriter(kv, Options);

        var outcome = await writer.WriteAsync(Put(Key(1), "mine", lease: 1), CancellationToken.None);

        Assert.True(outcome.Succeeded);
        Assert.Equal((7, "theirs"), (outcome.Other!.LeaseId, Text(outcome.Other.Value)));
        Assert.Equal([Key(1)], kv.Puts);
        Assert.Empty(kv.Transactions);
    }

    [Fact]
    public async Task Writes_asked_while_requests_are_in_flight_go_out_as_transactions_of_at_most_128_each_with_its_own_previous_value()
    {
        var kv = new RecordingKv();
        for (var i = 0; i < 300; i += 2) kv.Seed(Key(i), $"old-{i}", lease: 1000 + i);
        await using var writer = new TakeoverWriter(kv, Options);
        var holders = await HoldEveryRequestAsync(writer, kv);

        var writes = Enumerable.Range(0, 300).Select(i => writer.WriteAsync(Put(Key(i), "mine", lease: 1), CancellationToken.None)).ToArray();
        kv.Release();
        var outcomes = await Task.WhenAll(writes);
        await Task.WhenAll(holders);

        for (var i = 0; i < 300; i++)
        {
            Assert.True(outcomes[i].Succeeded);
            if (i % 2 == 0) Assert.Equal((1000L + i, $"old-{i}"), (outcomes[i].Other!.LeaseId, Text(outcomes[i].Other!.Value)));
            else Assert.Null(outcomes[i].Other);
        }
        Assert.Equal(300, kv.Transactions.Sum(t => t.Count));
        Assert.All(kv.Transactions, t => Assert.InRange(t.Count, 2, TakeoverWriter.MaxPuts));
        Assert.Equal(TakeoverWriter.MaxInFlight, kv.Puts.Count);
        // Each write reports the revision of the transaction it went out in.
        Assert.Equal(kv.Transactions.Select(t => t.Count).Order(), outcomes.GroupBy(o => o.Revision).Select(g => g.Count()).Order());
    }

    [Fact]
    public async Task A_transaction_refused_for_one_gone_lease_is_retried_write_by_write_and_only_that_write_fails()
    {
        var kv = new RecordingKv();
        kv.GoneLeases.Add(99);
        await using var writer = new TakeoverWriter(kv, Options);
        var holders = await HoldEveryRequestAsync(writer, kv);

        var writes = Enumerable.Range(0, 10).Select(i => writer.WriteAsync(Put(Key(i), "mine", lease: i == 5 ? 99 : 1), CancellationToken.None)).ToArray();
        kv.Release();
        await Task.WhenAll(holders);

        var gone = await Assert.ThrowsAsync<RpcException>(() => writes[5]);
        Assert.Equal(StatusCode.NotFound, gone.StatusCode);
        Assert.All(writes.Where((_, i) => i != 5), w => Assert.True(w.Result.Succeeded));
        Assert.Equal(1, (await kv.GetAsync(Key(0)))!.Value.Lease);
        Assert.Null(await kv.GetAsync(Key(5)));
    }

    [Fact]
    public async Task Two_writes_of_one_key_never_share_a_transaction_and_land_in_the_order_asked()
    {
        var kv = new RecordingKv();
        await using var writer = new TakeoverWriter(kv, Options);
        var holders = await HoldEveryRequestAsync(writer, kv);

        var first = writer.WriteAsync(Put(Key(1), "first", lease: 1), CancellationToken.None);
        var other = writer.WriteAsync(Put(Key(2), "other", lease: 1), CancellationToken.None);
        var second = writer.WriteAsync(Put(Key(1), "second", lease: 2), CancellationToken.None);
        kv.Release();
        await Task.WhenAll(holders.Append(first).Append(other).Append(second));

        Assert.All(kv.Transactions, t => Assert.Equal(t.Count, t.Distinct().Count()));
        Assert.Equal("first", Text((await second).Other!.Value));
        Assert.Equal(("second", 2L), (await kv.GetAsync(Key(1)))!.Value);
    }

    [Fact]
    public async Task A_write_of_a_key_in_flight_waits_for_its_answer_while_writes_of_other_keys_go_out()
    {
        var kv = new RecordingKv();
        await using var writer = new TakeoverWriter(kv, Options);
        kv.Hold();

        var first = writer.WriteAsync(Put(Key(1), "first", lease: 1), CancellationToken.None);
        var second = writer.WriteAsync(Put(Key(1), "second", lease: 2), CancellationToken.None);
        var other = writer.WriteAsync(Put(Key(2), "other", lease: 1), CancellationToken.None);
        // The writer takes writes in the order asked: once the other key is out, the second write has been taken.
        await kv.SentAsync(Key(2));

        Assert.Equal([Key(1), Key(2)], kv.Sent().Order());
        Assert.False(second.IsCompleted);
        kv.Release();
        await Task.WhenAll(first, second, other);

        Assert.Equal("first", Text((await second).Other!.Value));
        Assert.Equal(("second", 2L), (await kv.GetAsync(Key(1)))!.Value);
    }

    [Fact]
    public async Task A_parked_write_whose_caller_gave_up_is_not_sent_and_the_next_write_of_its_key_still_goes_out()
    {
        var kv = new RecordingKv();
        await using var writer = new TakeoverWriter(kv, Options);
        kv.Hold();

        using var giveUp = new CancellationTokenSource();
        var first = writer.WriteAsync(Put(Key(1), "first", lease: 1), CancellationToken.None);
        var abandoned = writer.WriteAsync(Put(Key(1), "abandoned", lease: 2), giveUp.Token);
        var third = writer.WriteAsync(Put(Key(1), "third", lease: 3), CancellationToken.None);
        await kv.SentAsync(Key(1));
        await giveUp.CancelAsync();
        kv.Release();
        await Task.WhenAll(first, third);

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.Equal("first", Text((await third).Other!.Value));
        Assert.Equal(("third", 3L), (await kv.GetAsync(Key(1)))!.Value);
    }

    [Fact]
    public async Task When_etcd_allows_fewer_operations_per_transaction_the_writes_go_one_by_one_and_later_transactions_shrink()
    {
        var kv = new RecordingKv { MaxOps = 16 };
        await using var writer = new TakeoverWriter(kv, Options);

        for (var round = 0; round < 2; round++)
        {
            var holders = await HoldEveryRequestAsync(writer, kv);
            var writes = Enumerable.Range(0, 100).Select(i => writer.WriteAsync(Put(Key(i), $"round-{round}", lease: 1), CancellationToken.None)).ToArray();
            kv.Release();
            await Task.WhenAll(holders);
            Assert.All(await Task.WhenAll(writes), o => Assert.True(o.Succeeded));
        }

        // Each transaction etcd refused (more than 16 puts) halves the ones after it, until they fit.
        var sizes = kv.Transactions.Select(t => t.Count).ToList();
        Assert.Equal(100, sizes[0]);
        var bound = 100;
        foreach (var size in sizes.Skip(1))
        {
            Assert.InRange(size, 2, bound / 2);
            if (size > kv.MaxOps) bound = size;
        }
        Assert.InRange(sizes[^1], 2, kv.MaxOps);
        Assert.Equal("round-1", (await kv.GetAsync(Key(99)))!.Value.Value);
    }

    [Fact]
    public async Task A_failed_transaction_fails_each_of_its_writes()
    {
        var kv = new RecordingKv();
        await using var writer = new TakeoverWriter(kv, Options);
        var holders = await HoldEveryRequestAsync(writer, kv);

        var writes = Enumerable.Range(0, 5).Select(i => writer.WriteAsync(Put(Key(i), "mine", lease: 1), CancellationToken.None)).ToArray();
        kv.Failure = new RpcException(new Status(StatusCode.Unavailable, "down"));
        kv.Release();
        await Task.WhenAll(holders);

        foreach (var write in writes) Assert.Equal(StatusCode.Unavailable, (await Assert.ThrowsAsync<RpcException>(() => write)).StatusCode);
        Assert.Equal(5, Assert.Single(kv.Transactions).Count);
    }

    [Theory]
    [InlineData("etcdserver: too many requests", false)]
    [InlineData("etcdserver: mvcc: database space exceeded", false)]
    [InlineData("grpc: received message larger than max (600000 vs. 524288)", true)]
    public async Task A_transaction_refused_as_resource_exhausted_is_split_only_when_it_was_too_large(string detail, bool split)
    {
        var kv = new RecordingKv();
        await using var writer = new TakeoverWriter(kv, Options);
        var holders = await HoldEveryRequestAsync(writer, kv);
        var writes = Enumerable.Range(0, 5).Select(i => writer.WriteAsync(Put(Key(i), "mine", lease: 1), CancellationToken.None)).ToArray();
        // The transaction is refused; the puts that may follow it are not.
        kv.Failure = new RpcException(new Status(StatusCode.ResourceExhausted, detail));
        kv.FailTransactionsOnly = true;

        kv.Release();
        await Task.WhenAll(holders);

        if (split)
        {
            Assert.All(await Task.WhenAll(writes), o => Assert.True(o.Succeeded));
            Assert.Equal(5, kv.Puts.Count(k => k.StartsWith("/services/", StringComparison.Ordinal)));
        }
        else
        {
            // Etcd is overloaded or full: every write fails with its answer, for the caller's back-off, none sent alone.
            foreach (var write in writes) Assert.Equal(detail, (await Assert.ThrowsAsync<RpcException>(() => write)).Status.Detail);
            Assert.DoesNotContain(kv.Puts, k => k.StartsWith("/services/", StringComparison.Ordinal));
        }
        Assert.Equal(5, Assert.Single(kv.Transactions).Count);
        if (split) return;

        // Later batches keep their size: the next five writes go out together once etcd takes them.
        kv.Failure = null;
        holders = await HoldEveryRequestAsync(writer, kv);
        writes = Enumerable.Range(0, 5).Select(i => writer.WriteAsync(Put(Key(i), "again", lease: 1), CancellationToken.None)).ToArray();
        kv.Release();
        await Task.WhenAll(holders);
        Assert.All(await Task.WhenAll(writes), o => Assert.True(o.Succeeded));
        Assert.Equal([5, 5], kv.Transactions.Select(t => t.Count));
    }

    [Fact]
    public async Task A_write_whose_caller_gave_up_before_it_was_sent_is_not_sent()
    {
        var kv = new RecordingKv();
        await using var writer = new TakeoverWriter(kv, Options);
        var holders = await HoldEveryRequestAsync(writer, kv);

        using var giveUp = new CancellationTokenSource();
        var abandoned = writer.WriteAsync(Put(Key(1), "abandoned", lease: 1), giveUp.Token);
        var kept = writer.WriteAsync(Put(Key(2), "kept", lease: 1), CancellationToken.None);
        await giveUp.CancelAsync();
        kv.Release();
        await Task.WhenAll(holders.Append(kept));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        Assert.Null(await kv.GetAsync(Key(1)));
        Assert.DoesNotContain(Key(1), kv.Puts.Concat(kv.Transactions.SelectMany(t => t)));
    }

    /// <summary>Takes every request slot with a lone write the KV client holds, so the next writes queue together.</summary>
    private static async Task<Task<PutOutcome>[]> HoldEveryRequestAsync(TakeoverWriter writer, RecordingKv kv)
    {
        kv.Hold();
        var holders = new Task<PutOutcome>[TakeoverWriter.MaxInFlight];
        for (var i = 0; i < holders.Length; i++)
        {
            holders[i] = writer.WriteAsync(Put($"/holders/{Guid.NewGuid()}", "h", lease: 1), CancellationToken.None);
            await kv.ReceivedAsync();
        }
        return holders;
    }

    private static CallOptions Options(CancellationToken ct) => new(cancellationToken: ct);

    private static string Key(int i) => $"/services/user/10.0.0.{i}:80";

    private static PutRequest Put(string key, string value, long lease) =>
        new() { Key = ByteString.CopyFromUtf8(key), Value = ByteString.CopyFromUtf8(value), Lease = lease, PrevKv = true };

    private static string Text(byte[] value) => System.Text.Encoding.UTF8.GetString(value);

    /// <summary>
    /// Applies puts and transactions of puts as etcd does (a gone lease, too many operations or a repeated key refuse
    /// the whole transaction) at the moment they are asked, and answers them once <see cref="Release"/> is called.
    /// </summary>
    private sealed class RecordingKv : KV.KVClient
    {
        private readonly Dictionary<string, (string Value, long Lease)> _data = [];
        private long _revision;
        private readonly SemaphoreSlim _received = new(0);
        private TaskCompletionSource _answer = Answered();

        public List<string> Puts { get; } = [];

        public List<List<string>> Transactions { get; } = [];

        public HashSet<long> GoneLeases { get; } = [];

        public int MaxOps { get; init; } = 128;

        public Exception? Failure { get; set; }

        /// <summary>Puts alone are not refused with <see cref="Failure"/>.</summary>
        public bool FailTransactionsOnly { get; set; }

        public void Seed(string key, string value, long lease) => _data[key] = (value, lease);

        /// <summary>Holds the answers of the requests asked from now on; <see cref="ReceivedAsync"/> counts them afresh.</summary>
        public void Hold()
        {
            _answer = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            while (_received.Wait(0))
            {
            }
        }

        public void Release() => _answer.TrySetResult();

        /// <summary>The keys of every request so far, puts and transactions.</summary>
        public List<string> Sent()
        {
            lock (_data) return Puts.Concat(Transactions.SelectMany(t => t)).ToList();
        }

        /// <summary>Waits until a request holding <paramref name="key"/> has been received.</summary>
        public async Task SentAsync(string key)
        {
            while (!Sent().Contains(key)) await ReceivedAsync();
        }

        /// <summary>Waits for the next request.</summary>
        public async Task ReceivedAsync()
        {
            if (!await _received.WaitAsync(TimeSpan.FromSeconds(10))) throw new TimeoutException("no request within 10 s");
        }

        public Task<(string Value, long Lease)?> GetAsync(string key)
        {
            lock (_data) return Task.FromResult(_data.TryGetValue(key, out var v) ? v : ((string, long)?)null);
        }

        public override AsyncUnaryCall<PutResponse> PutAsync(PutRequest request, CallOptions options)
        {
            Func<PutResponse> answer;
            lock (_data)
            {
                Puts.Add(request.Key.ToStringUtf8());
                if (Refusal([request], transaction: false) is { } refused) answer = () => throw refused;
                else
                {
                    var response = new PutResponse { Header = new ResponseHeader { Revision = ++_revision }, PrevKv = Apply(request) };
                    answer = () => response;
                }
            }
            return Respond(answer);
        }

        public override AsyncUnaryCall<TxnResponse> TxnAsync(TxnRequest request, CallOptions options)
        {
            Func<TxnResponse> answer;
            lock (_data)
            {
                var puts = request.Success.Select(op => op.RequestPut).ToList();
                Transactions.Add(puts.Select(p => p.Key.ToStringUtf8()).ToList());
                if (Refusal(puts, transaction: true) is { } refused) answer = () => throw refused;
                else
                {
                    // One revision for the whole transaction, as etcd gives it.
                    var response = new TxnResponse { Succeeded = true, Header = new ResponseHeader { Revision = ++_revision } };
                    foreach (var put in puts) response.Responses.Add(new ResponseOp { ResponsePut = new PutResponse { PrevKv = Apply(put) } });
                    answer = () => response;
                }
            }
            return Respond(answer);
        }

        private Exception? Refusal(List<PutRequest> puts, bool transaction)
        {
            if (Failure is not null && (transaction || !FailTransactionsOnly)) return Failure;
            if (puts.Count > MaxOps) return Refused(StatusCode.InvalidArgument, "etcdserver: too many operations in txn request");
            if (puts.Select(p => p.Key).Distinct().Count() < puts.Count) return Refused(StatusCode.InvalidArgument, "etcdserver: duplicate key given in txn request");
            if (puts.Any(p => GoneLeases.Contains(p.Lease))) return Refused(StatusCode.NotFound, "etcdserver: requested lease not found");
            return null;
        }

        private KeyValue? Apply(PutRequest put)
        {
            var key = put.Key.ToStringUtf8();
            var previous = _data.TryGetValue(key, out var v) ? new KeyValue { Key = put.Key, Value = ByteString.CopyFromUtf8(v.Value), Lease = v.Lease } : null;
            _data[key] = (put.Value.ToStringUtf8(), put.Lease);
            return previous;
        }

        private AsyncUnaryCall<T> Respond<T>(Func<T> answer)
        {
            var gate = _answer.Task;
            _received.Release();
            return new AsyncUnaryCall<T>(Answer(), Task.FromResult(new Metadata()), () => Status.DefaultSuccess, () => [], () => { });

            async Task<T> Answer()
            {
                await gate;
                return answer();
            }
        }

        private static RpcException Refused(StatusCode code, string detail) => new(new Status(code, detail));

        private static TaskCompletionSource Answered()
        {
            var done = new TaskCompletionSource();
            done.SetResult();
            return done;
        }
    }
}
