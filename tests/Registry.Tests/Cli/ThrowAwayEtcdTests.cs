using System.Net;
using System.Net.Sockets;
using Registry.Host.Demo;

namespace Registry.Tests.Cli;

public sealed class ThrowAwayEtcdTests
{
    [Fact]
    public void Free_ports_lie_below_the_ephemeral_range_and_apart_from_the_tests_and_can_be_bound()
    {
        for (var i = 0; i < 20; i++)
        {
            var port = ThrowAwayEtcd.FreePort();
            Assert.InRange(port, 10000, 19999);
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
        }
    }

    [Fact]
    public async Task The_demos_etcd_listens_and_leaves_nothing_behind()
    {
        var etcd = await ThrowAwayEtcd.StartAsync(CancellationToken.None);
        using (var probe = new TcpClient())
        {
            await probe.ConnectAsync(IPAddress.Loopback, etcd.Endpoint.Port);
        }
        Assert.InRange(etcd.Endpoint.Port, 10000, 19999);

        await etcd.DisposeAsync();

        Assert.False(Directory.Exists(etcd.DataDir));
    }
}
