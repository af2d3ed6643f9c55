using Registry.Tests.Infrastructure;

namespace Registry.Tests.Registration;

/// <summary>Registrations survive etcd itself going away: a restart of a single member, and the leader of a 3-member cluster killed.</summary>
[Collection(WallClockFaults.Name)]
public sealed class EtcdFailoverTests
{
    private const int Ttl = 3;

    private static ServiceInstance Instance() => ServiceInstance.Create("user", $"127.0.0.1:{Random.Shared.Next(10_000, 60_000)}");

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_registration_survives_an_etcd_restart(bool killed)
    {
        await using var etcd = await EtcdNode.StartNewAsync();
        await using var registry = new RegistryUnderTest([etcd.Endpoint], Ttl);
        var registered = await registry.RegisterAsync(Instance());

        if (killed) etcd.Kill();
        else await etcd.StopAsync();
        await etcd.RestartAsync();
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync(registered.Key);
        // Observation window: a lease not renewed after the restart expires within it.
        await Task.Delay(TimeSpan.FromSeconds(Ttl + 1));
        await watch.CatchUpAsync();

        Assert.Empty(watch.Deletes);
        Assert.Equal(registered.LeaseId, (await client.GetAsync(registered.Key))?.LeaseId);
        Assert.True(await client.LeaseTimeToLiveAsync(registered.LeaseId) > 0);
    }

    [Fact]
    public async Task A_registration_survives_killing_the_leader_of_a_three_member_cluster()
    {
        await using var cluster = await EtcdCluster.StartNewAsync(3);
        await using var registry = new RegistryUnderTest(cluster.Endpoints, Ttl);
        var registered = await registry.RegisterAsync(Instance());
        var leader = await cluster.WaitForLeaderAsync();
        using var client = new EtcdTestClient(cluster.Members.Where(m => m != leader).Select(m => m.Endpoint));
        await using var watch = await client.WatchKeyAsync(registered.Key);

        var killed = await cluster.KillLeaderAsync();
        Assert.Same(leader, killed);
        Assert.NotSame(killed, await cluster.WaitForLeaderAsync());
        await Task.Delay(TimeSpan.FromSeconds(Ttl + 1));
        await watch.CatchUpAsync();

        Assert.Empty(watch.Deletes);
        Assert.Equal(registered.LeaseId, (await client.GetAsync(registered.Key))?.LeaseId);
        Assert.True(await client.LeaseTimeToLiveAsync(registered.LeaseId) > 0);
    }
}
