using Registry.Tests.Infrastructure;

namespace Registry.Tests.Discovery;

/// <summary>
/// The watcher through etcd failures: a leader kill and a lost quorum on a 3-member cluster, a member that comes back
/// with its data lost.
/// </summary>
public sealed class WatcherFailoverTests
{
    private const string Prefix = "/services/user/";

    private static string Value(int n) =>
        System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(ServiceInstance.Create("user", $"10.0.0.{n}:80") with { RegisteredAt = DateTimeOffset.UnixEpoch }));

    [Fact]
    public async Task Killing_the_leader_mid_watch_loses_no_change()
    {
        await using var cluster = await EtcdCluster.StartNewAsync(3);
        // DEBUG: a view still stale at the end (seen once in a full run, the cause not established) says why in the log.
        await using var watcher = new DiscoveryUnderTest(cluster.Endpoints, logLevel: "DEBUG");
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
    public async Task After_etcd_comes_back_with_its_data_lost_the_view_follows_its_lower_revisions()
    {
        await using var etcd = await EtcdNode.StartNewAsync();
        await using var watcher = new DiscoveryUnderTest([etcd.Endpoint]);
        using (var client = etcd.CreateClient())
        {
            await client.PutAsync($"{Prefix}10.0.0.1:80", Value(1));
            for (var i = 0; i < 20; i++) await client.PutAsync($"/other/{i}", "x");
            await client.PutAsync($"{Prefix}10.0.0.2:80", Value(2));
            await watcher.ConvergeAsync(client, Prefix, TimeSpan.FromSeconds(10));
        }

        // As a member without a volume, or restored from an older backup: revision 1 again.
        await etcd.StopAsync();
        TestDirectories.Delete(etcd.DataDir);
        watcher.View.RevisionsMayGoBack = true;
        await etcd.RestartAsync();
        using var fresh = etcd.CreateClient();
        await fresh.PutAsync($"{Prefix}10.0.0.3:80", Value(3));

        // A watch resumed at the old revision + 1, in the new etcd's future, would see nothing until etcd passed it: the
        // watcher lists again instead.
        await watcher.ConvergeAsync(fresh, Prefix, TimeSpan.FromSeconds(20));
        await fresh.PutAsync($"{Prefix}10.0.0.4:80", Value(4));
        await watcher.ConvergeAsync(fresh, Prefix, TimeSpan.FromSeconds(10));
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
