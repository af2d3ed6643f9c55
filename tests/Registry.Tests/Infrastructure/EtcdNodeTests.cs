using System.Net.Sockets;

namespace Registry.Tests.Infrastructure;

public sealed class EtcdNodeTests
{
    [Fact]
    public async Task Starts_and_answers_put_get_list_and_delete()
    {
        await using var etcd = await EtcdNode.StartNewAsync();
        using var client = etcd.CreateClient();

        var revision = await client.PutAsync("/t/a", "1");
        await client.PutAsync("/t/b", "2");
        await client.PutAsync("/u/c", "3");

        var a = await client.GetAsync("/t/a");
        Assert.Equal(("/t/a", "1", revision), (a?.Key, a?.Value, a?.ModRevision));
        Assert.Equal(["/t/a", "/t/b"], (await client.ListAsync("/t/")).Select(e => e.Key));
        Assert.True(await client.DeleteAsync("/t/a"));
        Assert.Null(await client.GetAsync("/t/a"));
        Assert.False(await client.DeleteAsync("/t/a"));
    }

    [Fact]
    public async Task Restart_after_kill_or_stop_keeps_data_and_ports()
    {
        await using var etcd = await EtcdNode.StartNewAsync();
        using var client = etcd.CreateClient();
        await client.PutAsync("/t/survivor", "yes");
        var endpoint = etcd.Endpoint;

        etcd.Kill();
        Assert.False(etcd.IsRunning);
        await etcd.RestartAsync();
        Assert.Equal("yes", (await client.GetAsync("/t/survivor"))?.Value);

        await etcd.StopAsync();
        Assert.False(etcd.IsRunning);
        await etcd.RestartAsync();
        Assert.Equal("yes", (await client.GetAsync("/t/survivor"))?.Value);
        Assert.Equal(endpoint, etcd.Endpoint);
    }

    [Fact]
    public async Task Dispose_kills_etcd_and_deletes_its_data()
    {
        var etcd = await EtcdNode.StartNewAsync();
        var dataDir = etcd.DataDir;

        etcd.Dispose();

        Assert.False(etcd.IsRunning);
        Assert.False(Directory.Exists(dataDir));
        using var probe = new TcpClient();
        var connect = async () => await probe.ConnectAsync("127.0.0.1", etcd.ClientPort);
        await Assert.ThrowsAsync<SocketException>(connect);
    }
}
