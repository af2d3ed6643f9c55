using dotnet_etcd;
using dotnet_etcd.interfaces;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// A plain etcd client for tests to look at and change etcd behind the system's back. Calls do not retry: a
/// failure surfaces as an <see cref="RpcException"/> so fault-injection tests see it; poll when a test needs to wait.
/// </summary>
public sealed class EtcdTestClient : IDisposable
{
    private readonly EtcdClient _client;

    /// <param name="endpoints">Client URLs such as <c>http://127.0.0.1:2379</c>; calls are spread over the ones that are up.</param>
    public EtcdTestClient(params IEnumerable<string> endpoints)
    {
        Endpoints = endpoints.ToArray();
        if (Endpoints.Count == 0)
        {
            throw new ArgumentException("at least one endpoint is needed", nameof(endpoints));
        }

        _client = new EtcdClient(string.Join(",", Endpoints), configureChannelOptions: ConfigureChannel);
    }

    public IReadOnlyList<string> Endpoints { get; }

    /// <summary>Deadline of each call. Default 10 s.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// When true (the default) a call made while no endpoint is reachable waits for one (up to the deadline);
    /// when false it fails at once with <see cref="StatusCode.Unavailable"/>.
    /// </summary>
    public bool WaitForReady { get; init; } = true;

    /// <summary>The generated gRPC clients, for anything this class does not cover.</summary>
    public IConnection Raw => _client.GetConnection();

    /// <summary>Writes a key; returns the revision of the write.</summary>
    public async Task<long> PutAsync(string key, string value, long leaseId = 0, CancellationToken ct = default)
    {
        var request = new PutRequest { Key = Utf8(key), Value = Utf8(value), Lease = leaseId };
        var response = await Raw.KVClient.PutAsync(request, Options(ct));
        return response.Header.Revision;
    }

    /// <summary>
    /// Writes a new value over an existing key, keeping the lease it is bound to (<c>etcdctl put --ignore-lease</c>);
    /// returns the revision of the write.
    /// </summary>
    public async Task<long> PutKeepingLeaseAsync(string key, string value, CancellationToken ct = default)
    {
        var request = new PutRequest { Key = Utf8(key), Value = Utf8(value), IgnoreLease = true };
        var response = await Raw.KVClient.PutAsync(request, Options(ct));
        return response.Header.Revision;
    }

    /// <summary>Reads one key; null when it does not exist.</summary>
    public async Task<EtcdEntry?> GetAsync(string key, CancellationToken ct = default)
    {
        var response = await Raw.KVClient.RangeAsync(new RangeRequest { Key = Utf8(key) }, Options(ct));
        return response.Kvs.Select(ToEntry).FirstOrDefault();
    }

    /// <summary>Every key starting with <paramref name="prefix"/>, in key order.</summary>
    public async Task<IReadOnlyList<EtcdEntry>> ListAsync(string prefix, CancellationToken ct = default)
    {
        var request = new RangeRequest { Key = Utf8(prefix), RangeEnd = PrefixEnd(prefix) };
        var response = await Raw.KVClient.RangeAsync(request, Options(ct));
        return response.Kvs.Select(ToEntry).ToArray();
    }

    /// <summary>Deletes one key; returns whether it existed.</summary>
    public async Task<bool> DeleteAsync(string key, CancellationToken ct = default)
    {
        var response = await Raw.KVClient.DeleteRangeAsync(new DeleteRangeRequest { Key = Utf8(key) }, Options(ct));
        return response.Deleted > 0;
    }

    /// <summary>The store's current revision.</summary>
    public async Task<long> RevisionAsync(CancellationToken ct = default)
    {
        var response = await Raw.KVClient.RangeAsync(new RangeRequest { Key = Utf8("/"), CountOnly = true }, Options(ct));
        return response.Header.Revision;
    }

    /// <summary>
    /// Compacts history up to <paramref name="revision"/> (default: the current revision) and waits until the
    /// compaction is applied, so a watch from an older revision fails right after. Returns the revision compacted at.
    /// </summary>
    public async Task<long> CompactAsync(long? revision = null, CancellationToken ct = default)
    {
        var at = revision ?? await RevisionAsync(ct);
        await Raw.KVClient.CompactAsync(new CompactionRequest { Revision = at, Physical = true }, Options(ct));
        return at;
    }

    /// <summary>Grants a lease; returns its id.</summary>
    public async Task<long> GrantLeaseAsync(long ttlSeconds, CancellationToken ct = default)
    {
        var response = await Raw.LeaseClient.LeaseGrantAsync(new LeaseGrantRequest { TTL = ttlSeconds }, Options(ct));
        return response.ID;
    }

    /// <summary>The remaining TTL of a lease in seconds; -1 when the lease does not exist (expired or revoked).</summary>
    public async Task<long> LeaseTimeToLiveAsync(long leaseId, CancellationToken ct = default)
    {
        var response = await Raw.LeaseClient.LeaseTimeToLiveAsync(new LeaseTimeToLiveRequest { ID = leaseId }, Options(ct));
        return response.TTL;
    }

    /// <summary>Revokes a lease, deleting its keys, as if etcd had lost it.</summary>
    public async Task RevokeLeaseAsync(long leaseId, CancellationToken ct = default) =>
        await Raw.LeaseClient.LeaseRevokeAsync(new LeaseRevokeRequest { ID = leaseId }, Options(ct));

    /// <summary>The status of the member the call lands on (its id, the leader it knows, its raft term).</summary>
    public async Task<StatusResponse> StatusAsync(CancellationToken ct = default) =>
        await Raw.MaintenanceClient.StatusAsync(new StatusRequest(), Options(ct));

    /// <summary>Records every event under <paramref name="prefix"/> from <paramref name="fromRevision"/> (default: the next one).</summary>
    public Task<DirectWatch> WatchPrefixAsync(string prefix, long? fromRevision = null, CancellationToken ct = default) =>
        WatchAsync(Utf8(prefix), PrefixEnd(prefix), fromRevision, ct);

    /// <summary>Records every event on one key from <paramref name="fromRevision"/> (default: the next one).</summary>
    public Task<DirectWatch> WatchKeyAsync(string key, long? fromRevision = null, CancellationToken ct = default) =>
        WatchAsync(Utf8(key), ByteString.Empty, fromRevision, ct);

    public void Dispose() => _client.Dispose();

    internal CallOptions Options(CancellationToken ct) =>
        new CallOptions(deadline: DateTime.UtcNow + CallTimeout, cancellationToken: ct).WithWaitForReady(WaitForReady);

    private async Task<DirectWatch> WatchAsync(ByteString key, ByteString rangeEnd, long? fromRevision, CancellationToken ct)
    {
        var from = fromRevision ?? await RevisionAsync(ct) + 1;
        return await DirectWatch.StartAsync(this, key, rangeEnd, from, ct);
    }

    private static void ConfigureChannel(GrpcChannelOptions options)
    {
        // No retry policy (dotnet-etcd's default retries Unavailable five times, which hides injected faults),
        // every failure including a deadline as an RpcException (dotnet-etcd turns deadlines into
        // TaskCanceledException), and quick reconnects so a restarted etcd is reachable again at once.
        options.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
        options.ThrowOperationCanceledOnCancellation = false;
        options.InitialReconnectBackoff = TimeSpan.FromMilliseconds(100);
        options.MaxReconnectBackoff = TimeSpan.FromSeconds(1);
    }

    private static ByteString Utf8(string text) => ByteString.CopyFromUtf8(text);

    /// <summary>The smallest key greater than every key with this prefix, as etcd's clients compute it.</summary>
    private static ByteString PrefixEnd(string prefix)
    {
        var end = System.Text.Encoding.UTF8.GetBytes(prefix);
        for (var i = end.Length - 1; i >= 0; i--)
        {
            if (end[i] < 0xff)
            {
                end[i]++;
                return ByteString.CopyFrom(end, 0, i + 1);
            }
        }

        return ByteString.CopyFrom(0); // empty or all-0xff prefix: to the end of the keyspace
    }

    private static EtcdEntry ToEntry(Mvccpb.KeyValue kv) =>
        new(kv.Key.ToStringUtf8(), kv.Value.ToStringUtf8(), kv.Lease, kv.CreateRevision, kv.ModRevision, kv.Version);
}
