using System.Text;
using Akka.Actor;
using Registry.Tests.Infrastructure;
using Registry.Tests.Registration;

namespace Registry.Tests.Discovery;

/// <summary>Against a real etcd of its own: a service's watch is held by etcd only while the service has subscribers.</summary>
public sealed class WatcherLifetimeEndToEndTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Etcd_holds_the_watch_while_a_subscriber_is_left_and_drops_it_after_the_last()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint]);
        var discovery = ServiceRegistry.Get(registry.System).Discovery;
        var first = Inbox.Create(registry.System);
        var second = Inbox.Create(registry.System);

        discovery.Tell(new SubscribeMembership("user"), first.Receiver);
        discovery.Tell(new SubscribeMembership("user"), second.Receiver);
        Assert.IsType<MembershipSnapshot>(await first.ReceiveAsync(Wait));
        await WatchersAsync(expected: 1);

        discovery.Tell(new UnsubscribeMembership("user"), first.Receiver);
        using var writer = etcd.CreateClient();
        await writer.PutAsync("/services/user/10.0.0.1:80", Encoding.UTF8.GetString(InstanceCodec.Encode(ServiceInstance.Create("user", "10.0.0.1:80"))));
        Assert.IsType<MembershipSnapshot>(await second.ReceiveAsync(Wait));
        Assert.IsType<InstanceUp>(await second.ReceiveAsync(Wait));
        await WatchersAsync(expected: 1);

        discovery.Tell(new UnsubscribeMembership("user"), second.Receiver);
        await WatchersAsync(expected: 0);
    }

    /// <summary>Waits for etcd's count of open watchers (its <c>/metrics</c>) to be <paramref name="expected"/>.</summary>
    private async Task WatchersAsync(int expected)
    {
        using var http = new HttpClient();
        using var timeout = new CancellationTokenSource(Wait);
        var seen = -1;
        while (!timeout.IsCancellationRequested)
        {
            var metrics = await http.GetStringAsync($"{etcd.Endpoint}/metrics", timeout.Token);
            var line = metrics.Split('\n').Single(l => l.StartsWith("etcd_debugging_mvcc_watcher_total ", StringComparison.Ordinal));
            seen = (int)double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            if (seen == expected) return;
            await Task.Delay(50, CancellationToken.None);
        }
        Assert.Fail($"etcd holds {seen} watchers, expected {expected}");
    }
}
