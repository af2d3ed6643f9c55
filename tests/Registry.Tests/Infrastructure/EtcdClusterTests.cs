namespace Registry.Tests.Infrastructure;

public sealed class EtcdClusterTests
{
    [Fact]
    public async Task Elects_a_leader_and_keeps_serving_when_it_is_killed()
    {
        await using var cluster = await EtcdCluster.StartNewAsync();
        using (var client = cluster.CreateClient())
        {
            await client.PutAsync("/t/before", "1");
        }

        var killed = await cluster.KillLeaderAsync();
        var leader = await cluster.WaitForLeaderAsync();
        Assert.NotSame(killed, leader);

        using (var survivors = new EtcdTestClient(cluster.Members.Where(m => m.IsRunning).Select(m => m.Endpoint)))
        {
            await survivors.PutAsync("/t/after", "2");
        }

        await killed.RestartAsync();
        using var restarted = killed.CreateClient();
        Assert.Equal(["/t/after", "/t/before"], (await restarted.ListAsync("/t/")).Select(e => e.Key));
    }
}
