using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>The etcd channel's HTTP/2 keep-alive pings against etcd's enforcement of them.</summary>
public sealed class ChannelKeepAliveTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task A_connection_idle_between_calls_is_not_closed_by_etcd_for_its_pings()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var store = new EtcdStore(RegistrySettings.From(ConfigurationFactory.ParseString($$"""
            registry.etcd.endpoints = ["{{proxy.Endpoint}}"]
            """)));
        await store.GetAsync("/idle/k", CancellationToken.None);
        Assert.Equal(1, proxy.AcceptedConnections);

        // The subject is time without a call. etcd (grpc-go, PermitWithoutStream false) counts a ping on a connection
        // without a stream, within 2 h of the one before, as a strike, and closes the connection at the third: pings
        // every 10 s would have it closed and opened again by 40 s.
        await Task.Delay(TimeSpan.FromSeconds(45));
        await store.GetAsync("/idle/k", CancellationToken.None);

        Assert.Equal(1, proxy.AcceptedConnections);
    }
}
