using System.Net;
using Akka.Configuration;
using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>
/// Unary calls when one of three members hangs with its connection open (the channel still counts it as ready): a
/// member of a real cluster frozen with SIGSTOP, and three proxies to one etcd, one of them held; what clears a suspect
/// on the channel to a real etcd, and what makes one of a member refusing a stream or hanging under a watch.
/// </summary>
public sealed class HungMemberTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static RegistrySettings Settings(IEnumerable<string> endpoints, string more = "") => RegistrySettings.From(ConfigurationFactory.ParseString($$"""
        registry.etcd {
          endpoints = [{{string.Join(", ", endpoints.Select(e => $"\"{e}\""))}}]
          call-timeout = 1s
        }
        {{more}}
        """));

    [Fact]
    public async Task After_one_call_lost_on_a_frozen_follower_of_a_cluster_the_calls_go_to_the_other_members()
    {
        await using var cluster = await EtcdCluster.StartNewAsync(3);
        var leader = await cluster.WaitForLeaderAsync();
        var follower = cluster.Members.First(m => m != leader);
        await using var store = new EtcdStore(Settings(cluster.Endpoints));
        // Round-robin connects to every member at once; a few calls each way prove they all answer.
        for (var call = 0; call < 6; call++) await store.GetAsync("/hung/key", CancellationToken.None);

        follower.Freeze();
        int lost;
        try
        {
            lost = await LostOfNineCallsAsync(store);
        }
        finally
        {
            follower.Thaw();
        }

        // Round-robin alone sends the frozen member every third call: 3 lost.
        Assert.Equal(1, lost);
    }

    [Fact]
    public async Task After_one_call_lost_on_a_member_that_hangs_the_calls_go_to_the_others()
    {
        await using var first = new FaultProxy(etcd.ClientPort);
        await using var second = new FaultProxy(etcd.ClientPort);
        await using var third = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(Settings([first.Endpoint, second.Endpoint, third.Endpoint]));
        // Round-robin connects to every member; a call each way proves they all answer.
        for (var call = 0; call < 3; call++) await store.GetAsync("/hung/key", CancellationToken.None);
        Assert.All(new[] { first, second, third }, proxy => Assert.Equal(1, proxy.AcceptedConnections));

        second.Hold();
        var lost = await LostOfNineCallsAsync(store);

        // Round-robin alone sends the held member every third call: 3 lost.
        Assert.Equal(1, lost);
    }

    [Fact]
    public async Task A_suspect_member_is_cleared_by_an_answer_but_not_by_etcd_refusing_a_call()
    {
        var suspects = new SuspectMembers(TimeSpan.FromSeconds(1));
        using var channel = EtcdChannel.Create(Settings([etcd.Endpoint]), suspects);
        var kv = new KV.KVClient(channel);
        var member = new DnsEndPoint("127.0.0.1", etcd.ClientPort);
        var elsewhere = new DnsEndPoint("127.0.0.1", 1);
        // Whether calls avoid the member while another (unreal) one is ready.
        bool Avoided() => suspects.Choose([member, elsewhere], turn: 0, EtcdCallKind.Unary) == 1;
        suspects.Suspect(member);

        // The only member, so used; etcd refuses the write (its lease does not exist) with a status in the headers.
        var refusal = await Assert.ThrowsAsync<RpcException>(async () => await kv.PutAsync(
            new PutRequest { Key = ByteString.CopyFromUtf8("/hung/refused"), Lease = 0x7fff_0000_0001 }));
        Assert.Contains("lease not found", refusal.Status.Detail);
        Assert.True(Avoided(), "a refusal cleared the suspect");

        await kv.RangeAsync(new RangeRequest { Key = ByteString.CopyFromUtf8("/hung/refused") });
        Assert.False(Avoided(), "an answer left the member suspect");
    }

    [Fact]
    public async Task A_member_that_refuses_a_stream_for_want_of_a_leader_becomes_suspect_at_once()
    {
        await using var cluster = await EtcdCluster.StartNewAsync(3);
        var survivor = cluster.Members[0];
        foreach (var member in cluster.Members.Skip(1)) member.Kill();
        await EtcdCluster.WaitForNoLeaderAsync(survivor);
        var suspects = new SuspectMembers(TimeSpan.FromSeconds(1));
        using var channel = EtcdChannel.Create(Settings([survivor.Endpoint]), suspects);
        var endpoint = new DnsEndPoint("127.0.0.1", survivor.ClientPort);
        var elsewhere = new DnsEndPoint("127.0.0.1", 1);

        // As the keep-alive stream opens: etcd refuses it at once, trailers-only, long before half the call timeout.
        using var call = new Lease.LeaseClient(channel).LeaseKeepAlive(new CallOptions(EtcdChannel.RequireLeader()));
        await call.RequestStream.WriteAsync(new LeaseKeepAliveRequest { ID = 0x7fff_0000_0001 });
        var refusal = await Assert.ThrowsAsync<RpcException>(() => call.ResponseStream.MoveNext());
        Assert.Equal(TrailersOnlyHandler.NoLeader, refusal.Status.Detail);

        // The next stream goes to another member while one is ready (before: this one again, one time in three).
        Assert.Equal(1, suspects.Choose([endpoint, elsewhere], turn: 0, EtcdCallKind.KeepAlive));
    }

    [Fact]
    public async Task A_watch_stream_dropped_for_its_silence_makes_its_member_suspect_and_one_dropped_live_does_not()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        var suspects = new SuspectMembers(TimeSpan.FromSeconds(1));
        var silence = TimeSpan.FromSeconds(1);
        await using var store = new EtcdStore(
            Settings([proxy.Endpoint], $"registry.discovery {{ progress-interval = 200ms, silence-timeout = {silence.TotalMilliseconds}ms }}"), suspects);
        var member = new DnsEndPoint("127.0.0.1", proxy.Port);
        var elsewhere = new DnsEndPoint("127.0.0.1", 1);
        // Whether a new watch stream avoids the member while another (unreal) one is ready.
        bool Avoided() => suspects.Choose([member, elsewhere], turn: 0, EtcdCallKind.Watch) == 1;

        await DropWatchAsync(store, afterCreated: () => Task.CompletedTask);
        Assert.False(Avoided(), "a watch dropped while it answered made its member suspect");

        // As the watcher does with a stream that answers nothing for its silence timeout.
        await DropWatchAsync(store, afterCreated: async () =>
        {
            proxy.Hold();
            await Task.Delay(silence);
        });
        Assert.True(Avoided(), "a watch dropped for its silence left its member trusted");
    }

    /// <summary>Opens a watch, reads its creation, runs <paramref name="afterCreated"/>, then drops it as its consumer.</summary>
    private static async Task DropWatchAsync(EtcdStore store, Func<Task> afterCreated)
    {
        using var drop = new CancellationTokenSource();
        var watch = store.WatchAsync("/hung/", 0, drop.Token).GetAsyncEnumerator();
        try
        {
            Assert.True(await watch.MoveNextAsync());
            await afterCreated();
            drop.Cancel();
            await Assert.ThrowsAnyAsync<Exception>(async () => await watch.MoveNextAsync());
        }
        finally
        {
            await watch.DisposeAsync();
        }
    }

    /// <summary>Reads a key nine times, one call after another; returns how many calls timed out.</summary>
    private static async Task<int> LostOfNineCallsAsync(EtcdStore store)
    {
        var lost = 0;
        for (var call = 0; call < 9; call++)
        {
            try
            {
                await store.GetAsync("/hung/key", CancellationToken.None);
            }
            catch (RpcException e) when (e.StatusCode == StatusCode.DeadlineExceeded)
            {
                lost++;
            }
        }
        return lost;
    }
}
