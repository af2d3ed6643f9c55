using Registry.Tests.Infrastructure;

namespace Registry.Tests.Discovery;

/// <summary>The watcher keeps an exact view when the leader of a 3-member cluster is killed mid-watch.</summary>
public sealed class WatcherFailoverTests
{
    private const string Prefix = "/services/user/";

    private static string Value(int n) =>
        System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(ServiceInstance.Create("user", $"10.0.0.{n}:80") with { RegisteredAt = DateTimeOffset.UnixEpoch }));

    [Fact]
    public async Task Killing_the_leader_mid_watch_loses_no_change()
    {
        await using var cluster = await EtcdCluster.StartNewAsync(3);
        await using var watcher = new DiscoveryUnderTest(cluster.Endpoints);
        using var client = cluster.CreateClient();
        for (var n = 1; n <= 5; n++) await client.PutAsync($"{Prefix}10.0.0.{n}:80", Value(n));
        await watcher.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(10));

        var killed = await cluster.KillLeaderAsync();
        await cluster.WaitForLeaderAsync();
        using var survivors = new EtcdTestClient(cluster.Members.Where(m => m != killed).Select(m => m.Endpoint));
        for (var n = 6; n <= 10; n++) await survivors.PutAsync($"{Prefix}10.0.0.{n}:80", Value(n));
        await survivors.DeleteAsync($"{Prefix}10.0.0.1:80");

        await watcher.ConvergeAsync(survivors, Prefix, TimeSpan.FromSeconds(15));
        Assert.Equal(1, watcher.View.Snapshots);
    }
}
