using System.Diagnostics;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Registration;

/// <summary>
/// A registration through a faulty link to a real etcd: cuts shorter than the TTL must never remove the key,
/// and after a longer cut the key must be back within 1 s of the heal.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class NetworkCutTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private const int Ttl = 3;

    private static ServiceInstance Instance() => ServiceInstance.Create("user", $"127.0.0.1:{Random.Shared.Next(10_000, 60_000)}");

    [Theory]
    [InlineData(ProxyMode.Hold)]
    [InlineData(ProxyMode.Reset)]
    public async Task A_cut_of_half_the_ttl_leaves_the_key_in_place_with_no_delete(ProxyMode mode)
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var registry = new RegistryUnderTest([proxy.Endpoint], Ttl);
        var registered = await registry.RegisterAsync(Instance());
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync(registered.Key);

        var cut = await proxy.CutAsync(TimeSpan.FromSeconds(1.5), mode);
        // Observation window: a lease not renewed since the cut began would expire within it.
        await Task.Delay(TimeSpan.FromSeconds(Ttl));
        await watch.CatchUpAsync();

        Assert.True(watch.Deletes.Count == 0, $"the key was deleted; the cut lasted {cut.TotalMilliseconds:0} ms");
        Assert.Equal(registered.LeaseId, (await client.GetAsync(registered.Key))?.LeaseId);
        Assert.True(await client.LeaseTimeToLiveAsync(registered.LeaseId) > 0);
        Assert.DoesNotContain(registry.Drain(), e => e.Kind == RegistrationEventKind.LeaseLost);
    }

    [Theory]
    [InlineData(ProxyMode.Hold)]
    [InlineData(ProxyMode.Reset)]
    public async Task After_a_cut_longer_than_the_ttl_the_key_is_back_within_a_second_of_the_heal(ProxyMode mode)
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        await using var registry = new RegistryUnderTest([proxy.Endpoint], Ttl);
        var registered = await registry.RegisterAsync(Instance());
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync(registered.Key);
        var cut = Stopwatch.StartNew();

        proxy.SetMode(mode);
        var deleted = await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, TimeSpan.FromSeconds(10));
        // The cut lasts 5 s in all; the DELETE may come later than that on a starved machine.
        if (TimeSpan.FromSeconds(5) - cut.Elapsed is { Ticks: > 0 } rest) await Task.Delay(rest);
        proxy.Heal();
        var healed = Stopwatch.StartNew();
        var back = await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Put && e.Revision > deleted.Revision, TimeSpan.FromSeconds(10));
        var recovery = healed.Elapsed;

        Assert.True(recovery < TimeSpan.FromSeconds(1), $"the key came back {recovery.TotalMilliseconds:0} ms after the heal");
        Assert.NotEqual(registered.LeaseId, back.LeaseId);
        Assert.Equal(registered.LeaseId, (await registry.NextAsync(RegistrationEventKind.LeaseLost)).LeaseId);
        Assert.Equal(back.LeaseId, (await registry.NextAsync(RegistrationEventKind.Reregistered)).LeaseId);
    }
}
