using System.Collections.Concurrent;
using System.Diagnostics;
using dotnet_etcd;
using dotnet_etcd.interfaces;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// The baseline: what a program does with dotnet-etcd alone, without the registry (the textbook recipe: grant, put,
/// keep-alive, watch). Every scenario measures its registry figure beside the same figure of this client.
/// </summary>
public sealed class RawEtcd : IDisposable
{
    private readonly EtcdClient _client;

    public RawEtcd(string endpoint) => _client = new EtcdClient(endpoint);

    public IConnection Connection => _client.GetConnection();

    public static ByteString Utf8(string s) => ByteString.CopyFromUtf8(s);

    public async Task<long> GrantAsync(long ttlSeconds) => (await Connection.LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds })).ID;

    public async Task<long> PutAsync(string key, byte[] value, long lease = 0) =>
        (await Connection.KVClient.PutAsync(new PutRequest { Key = Utf8(key), Value = ByteString.CopyFrom(value), Lease = lease })).Header.Revision;

    public async Task DeleteAsync(string key) => await Connection.KVClient.DeleteRangeAsync(new DeleteRangeRequest { Key = Utf8(key) });

    public async Task RevokeAsync(long lease)
    {
        try
        {
            await Connection.LeaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = lease });
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound)
        {
        }
    }

    /// <summary>Every key under <paramref name="prefix"/> with the lease it is bound to.</summary>
    public async Task<Dictionary<string, long>> ListAsync(string prefix)
    {
        var response = await Connection.KVClient.RangeAsync(new RangeRequest { Key = Utf8(prefix), RangeEnd = PrefixEnd(prefix), KeysOnly = true });
        return response.Kvs.ToDictionary(kv => kv.Key.ToStringUtf8(), kv => kv.Lease);
    }

    public async Task DeletePrefixAsync(string prefix) =>
        await Connection.KVClient.DeleteRangeAsync(new DeleteRangeRequest { Key = Utf8(prefix), RangeEnd = PrefixEnd(prefix) });

    /// <summary>A watch on a prefix straight on etcd's gRPC Watch stream, timestamping each event as it arrives.</summary>
    public async Task<RawWatch> WatchAsync(string prefix, CancellationToken ct)
    {
        var watch = new RawWatch(Connection.WatchClient, prefix);
        await watch.StartAsync(ct);
        return watch;
    }

    public static ByteString PrefixEnd(string prefix)
    {
        var bytes = System.Text.Encoding.UTF8.GetBytes(prefix);
        bytes[^1]++;
        return ByteString.CopyFrom(bytes);
    }

    public void Dispose() => _client.Dispose();
}

/// <summary>One raw Watch stream: the <see cref="Stopwatch"/> timestamp at which each PUT and DELETE arrived, by key.</summary>
public sealed class RawWatch(Watch.WatchClient client, string prefix) : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<(string Key, bool Delete), long> _seen = new();
    private Task _loop = Task.CompletedTask;

    /// <summary>When the event on <paramref name="key"/> arrived, or null if it has not.</summary>
    public long? SeenAt(string key, bool delete) => _seen.TryGetValue((key, delete), out var at) ? at : null;

    public void Forget(string key)
    {
        _seen.TryRemove((key, false), out _);
        _seen.TryRemove((key, true), out _);
    }

    /// <summary>Waits until the event on <paramref name="key"/> arrived; returns its timestamp.</summary>
    public async Task<long> WaitAsync(string key, bool delete, TimeSpan timeout)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
        while (true)
        {
            if (SeenAt(key, delete) is { } at) return at;
            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"the raw watch saw no {(delete ? "DELETE" : "PUT")} of {key} within {timeout}");
            await Task.Delay(1);
        }
    }

    internal async Task StartAsync(CancellationToken ct)
    {
        var call = client.Watch(cancellationToken: _stop.Token);
        await call.RequestStream.WriteAsync(new WatchRequest
        {
            CreateRequest = new WatchCreateRequest { Key = RawEtcd.Utf8(prefix), RangeEnd = RawEtcd.PrefixEnd(prefix) },
        }, ct);
        if (!await call.ResponseStream.MoveNext(ct) || !call.ResponseStream.Current.Created)
            throw new InvalidOperationException($"the raw watch of {prefix} was not created");
        _loop = Task.Run(async () =>
        {
            using (call)
            {
                try
                {
                    while (await call.ResponseStream.MoveNext(_stop.Token))
                    {
                        var now = Stopwatch.GetTimestamp();
                        foreach (var e in call.ResponseStream.Current.Events)
                            _seen[(e.Kv.Key.ToStringUtf8(), e.Type == Mvccpb.Event.Types.EventType.Delete)] = now;
                    }
                }
                catch (Exception) when (_stop.IsCancellationRequested)
                {
                }
            }
        });
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        await _loop;
    }
}
