using Registry.Tests.Infrastructure;

namespace Registry.Tests.Discovery;

/// <summary>The watcher on a 3-member cluster: an exact view through a leader kill and through a lost quorum.</summary>
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

    [Fact]
    public async Task A_member_cut_off_from_the_majority_turns_the_view_stale_keeping_it_until_the_quorum_is_back()
    {
        await using var cluster = await EtcdCluster.StartNewAsync(3);
        var minority = cluster.Members[0];
        await using var watcher = new DiscoveryUnderTest([minority.Endpoint]);
        using var client = cluster.CreateClient();
        for (var n = 1; n <= 3; n++) await client.PutAsync($"{Prefix}10.0.0.{n}:80", Value(n));
        await watcher.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(10));

        var majority = cluster.Members.Skip(1).ToList();
        foreach (var member in majority) member.Kill();

        // The member is up but has no leader: its stream must not pass for a live, empty or frozen view.
        await watcher.WaitForStaleAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(3, watcher.View.Instances.Count);

        await Task.WhenAll(majority.Select(m => m.RestartAsync()));
        await cluster.WaitForLeaderAsync();
        await client.PutAsync($"{Prefix}10.0.0.4:80", Value(4));
        await watcher.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(20));
        Assert.Equal(1, watcher.View.Snapshots);
    }
}
