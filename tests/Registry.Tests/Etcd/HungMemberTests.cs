using Akka.Configuration;
using Grpc.Core;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>
/// Unary calls when one of three members hangs with its connection open (the channel still counts it as ready): a
/// member of a real cluster frozen with SIGSTOP, and three proxies to one etcd, one of them held.
/// </summary>
public sealed class HungMemberTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static RegistrySettings Settings(IEnumerable<string> endpoints) => RegistrySettings.From(ConfigurationFactory.ParseString($$"""
        registry.etcd {
          endpoints = [{{string.Join(", ", endpoints.Select(e => $"\"{e}\""))}}]
          call-timeout = 1s
        }
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
