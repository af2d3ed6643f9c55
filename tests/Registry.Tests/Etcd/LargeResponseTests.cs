using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Discovery;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>
/// etcd answers a listing, or a watch resumed from an old revision, in one message however large; grpc-dotnet refuses
/// messages over 4 MB by default. Each value here is within etcd's own request limit (1.5 MiB).
/// </summary>
public sealed class LargeResponseTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private const int Values = 4;
    private static readonly string Big = new('x', 1_200_000);

    [Fact]
    public async Task A_listing_over_4_MB_is_read_whole()
    {
        var prefix = $"/large-list-{Guid.NewGuid():N}/";
        using var client = etcd.CreateClient();
        for (var i = 0; i < Values; i++) await client.PutAsync($"{prefix}{i}", Big);
        await using var store = Store();

        var listing = await store.ListAsync(prefix, CancellationToken.None);

        Assert.Equal(Values, listing.Values.Count);
        Assert.All(listing.Values, v => Assert.Equal(Big.Length, v.Value.Length));
    }

    [Fact]
    public async Task A_watch_resumed_before_over_4_MB_of_changes_receives_them()
    {
        var prefix = $"/large-watch-{Guid.NewGuid():N}/";
        using var client = etcd.CreateClient();
        var from = await client.RevisionAsync() + 1;
        for (var i = 0; i < Values; i++) await client.PutAsync($"{prefix}{i}", Big);
        await using var store = Store();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));

        var received = 0;
        await foreach (var batch in store.WatchAsync(prefix, from, cts.Token))
        {
            received += batch.Events.Count;
            if (received >= Values) break;
        }

        Assert.Equal(Values, received);
    }

    [Fact]
    public async Task Discovery_lists_a_service_whose_values_add_up_to_over_4_MB()
    {
        var service = $"svc{Guid.NewGuid():N}"[..12];
        var prefix = InstanceCodec.ServicePrefix(InstanceCodec.DefaultPrefix, service);
        using var client = etcd.CreateClient();
        var valid = ServiceInstance.Create(service, "10.0.0.1:80");
        await client.PutAsync(prefix + valid.Id, System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(valid)));
        // Not instances (each is refused with a warning), but they are under the prefix, so the listing carries them.
        for (var i = 0; i < Values; i++) await client.PutAsync($"{prefix}junk{i}", Big);
        await using var discovery = new DiscoveryUnderTest([etcd.Endpoint], service);

        await discovery.WaitUntilAsync(v => v.Snapshots > 0, "given a snapshot", TimeSpan.FromSeconds(20));

        Assert.Equal([valid.Id], discovery.View.ToSorted().Values.Select(i => i.Id));
    }

    private EtcdStore Store() =>
        new(RegistrySettings.From(ConfigurationFactory.ParseString($"registry.etcd.endpoints = [\"{etcd.Endpoint}\"]")));
}
