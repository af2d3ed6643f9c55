using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Registry.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Registry.Tests.Cli;

/// <summary>
/// <c>registry register --ttl 3</c> through a faulty link to a real etcd, watched on etcd directly: a cut shorter than
/// the TTL leaves the key alone, and after a longer cut the key is back within 1 s of the heal.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class RegisterCommandShortCutTests(EtcdNode etcd, ITestOutputHelper output) : IClassFixture<EtcdNode>
{
    [Theory]
    [InlineData(ProxyMode.Hold)]
    [InlineData(ProxyMode.Reset)]
    public async Task A_cut_of_half_the_ttl_leaves_the_key_in_place_with_no_delete(ProxyMode mode)
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        using var client = etcd.CreateClient();
        using var registry = Sidecar.Start(proxy);
        var (key, lease) = await Sidecar.RegisteredAsync(registry);
        await using var watch = await client.WatchKeyAsync(key);

        var cut = await proxy.CutAsync(TimeSpan.FromSeconds(1.5), mode);
        var healed = DateTimeOffset.UtcNow;
        // Observation window: a lease not renewed since the cut began would expire within it.
        await Task.Delay(TimeSpan.FromSeconds(Sidecar.Ttl));
        await watch.CatchUpAsync();
        var deletes = watch.Deletes;
        var holder = (await client.GetAsync(key))?.LeaseId;
        registry.Terminate();
        Assert.Equal(0, await registry.WaitForExitAsync());
        var printed = await registry.ReadToEndAsync();

        var story = $"registry printed:\n{string.Join('\n', printed)}\nstderr:\n{string.Join('\n', registry.Stderr)}";
        Assert.True(deletes.Count == 0, $"the key was deleted at revision {deletes.FirstOrDefault()?.Revision}; the cut lasted {cut.TotalMilliseconds:0} ms; {story}");
        Assert.True(lease == holder, $"the key is bound to lease {holder:x}, not {lease:x}; {story}");
        if (printed.Select(l => JsonDocument.Parse(l).RootElement).FirstOrDefault(e => e.GetProperty("event").GetString() == "recovered") is { ValueKind: JsonValueKind.Object } recovered)
            output.WriteLine($"{mode} cut of 1.5 s: heal -> renewals recovered {(recovered.GetProperty("time").GetDateTimeOffset() - healed).TotalMilliseconds:0} ms");
        var kinds = printed.Select(Sidecar.EventName).ToList();
        Assert.DoesNotContain("lease-lost", kinds);
        Assert.DoesNotContain("reregistered", kinds);
        Assert.Equal("deregistered", kinds[^1]);
    }
}

/// <inheritdoc cref="RegisterCommandShortCutTests"/>
[Collection(WallClockFaults.Name)]
public sealed class RegisterCommandLongCutTests(EtcdNode etcd, ITestOutputHelper output) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task SIGTERM_during_a_cut_exits_0_saying_once_that_the_lease_was_not_revoked()
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        using var registry = Sidecar.Start(proxy);
        var (key, lease) = await Sidecar.RegisteredAsync(registry);
        proxy.Hold();

        registry.Terminate();

        Assert.Equal(0, await registry.WaitForExitAsync());
        var warnings = registry.Stderr.Where(l => l.Contains("WARN", StringComparison.Ordinal)).ToList();
        // The revoke's deadline (deregister-timeout) passes before the wait for it gives up: one warning, not two.
        Assert.Contains(warnings, l => l.Contains($"{key} deregistered without revoking its lease", StringComparison.Ordinal) && l.Contains($"{lease:x}", StringComparison.Ordinal));
        Assert.DoesNotContain(warnings, l => l.Contains("not every instance was deregistered", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(ProxyMode.Hold)]
    [InlineData(ProxyMode.Reset)]
    public async Task After_a_5s_cut_the_key_is_back_within_a_second_of_the_heal(ProxyMode mode)
    {
        await using var proxy = new FaultProxy(etcd.ClientPort);
        using var client = etcd.CreateClient();
        using var registry = Sidecar.Start(proxy);
        var (key, lease) = await Sidecar.RegisteredAsync(registry);
        await using var watch = await client.WatchKeyAsync(key);

        proxy.SetMode(mode);
        var cut = Stopwatch.StartNew();
        var deleted = await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, TimeSpan.FromSeconds(10));
        // The cut lasts 5 s in all, well past the lease's expiry; the DELETE may come later than that on a starved
        // machine.
        if (TimeSpan.FromSeconds(5) - cut.Elapsed is { Ticks: > 0 } rest) await Task.Delay(rest);
        proxy.Heal();
        var healed = Stopwatch.StartNew();
        var back = await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Put && e.Revision > deleted.Revision, TimeSpan.FromSeconds(10));
        var recovery = healed.Elapsed;

        output.WriteLine($"{mode} cut of 5 s: heal -> PUT {recovery.TotalMilliseconds:0} ms");
        Assert.True(recovery < TimeSpan.FromSeconds(1), $"the key came back {recovery.TotalMilliseconds:0} ms after the heal");
        Assert.NotEqual(lease, back.LeaseId);
        var lost = await registry.NextEventAsync("lease-lost");
        Assert.Equal(lease, Sidecar.LeaseOf(lost));
        var reregistered = await registry.NextEventAsync("reregistered");
        Assert.Equal(back.LeaseId, Sidecar.LeaseOf(reregistered));
    }
}

/// <summary>The <c>register</c> command these tests run, and how to read its events.</summary>
internal static class Sidecar
{
    public const int Ttl = 3;

    public static RegistryProcess Start(FaultProxy proxy) =>
        RegistryProcess.Start("register", "--service", CliTestData.UniqueService(), "--address", "127.0.0.1:18090",
            "--ttl", $"{Ttl}", "--etcd", proxy.Endpoint);

    /// <summary>Waits for the <c>registered</c> event; returns its key and lease.</summary>
    public static async Task<(string Key, long Lease)> RegisteredAsync(RegistryProcess registry)
    {
        var registered = await registry.NextEventAsync("registered");
        return (registered.GetProperty("key").GetString()!, LeaseOf(registered));
    }

    public static long LeaseOf(JsonElement e) => long.Parse(e.GetProperty("lease").GetString()!, NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    public static string EventName(string line) => JsonDocument.Parse(line).RootElement.GetProperty("event").GetString()!;
}
