using System.Net;
using System.Net.Sockets;
using Registry.Host.Demo;

namespace Registry.Tests.Cli;

public sealed class ThrowAwayEtcdTests
{
    [Fact]
    public void Free_ports_lie_below_the_ephemeral_range_and_apart_from_the_tests_and_none_is_taken()
    {
        // 300 ports of the range held open: a pick that did not check would hit one about every 33 picks. (Binding a
        // picked port afterwards would race with whatever else runs on the machine.)
        var held = new List<TcpListener>();
        try
        {
            while (held.Count < 300)
            {
                var listener = new TcpListener(IPAddress.Loopback, Random.Shared.Next(10000, 20000));
                try
                {
                    listener.Start();
                    held.Add(listener);
                }
                catch (SocketException)
                {
                    listener.Dispose();
                }
            }
            var taken = held.Select(l => ((IPEndPoint)l.LocalEndpoint).Port).ToHashSet();

            var picked = Enumerable.Range(0, 200).Select(_ => ThrowAwayEtcd.FreePort()).ToList();

            Assert.All(picked, port => Assert.InRange(port, 10000, 19999));
            Assert.DoesNotContain(picked, taken.Contains);
        }
        finally
        {
            foreach (var listener in held) listener.Dispose();
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
