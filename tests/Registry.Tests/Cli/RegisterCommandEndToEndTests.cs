using System.Diagnostics;
using System.Text.Json;
using Registry.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Registry.Tests.Cli;

/// <summary>
/// The built <c>registry</c> binary against a real etcd: registers, is listed, leaves on SIGTERM, vanishes after a
/// SIGKILL within TTL + 1 s. Each test uses a service of its own.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class RegisterCommandEndToEndTests(EtcdNode etcd, ITestOutputHelper output) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task Register_holds_the_key_until_SIGTERM_then_deregisters_and_exits_0()
    {
        var service = CliTestData.UniqueService();
        var key = $"/services/{service}/127.0.0.1:18080";
        using var client = etcd.CreateClient();
        using var registry = RegistryProcess.Start("register", "--service", service, "--address", "127.0.0.1:18080",
            "--meta", "zone=a", "--etcd", etcd.Endpoint);

        var registered = await registry.NextEventAsync("registered");
        Assert.Equal(key, registered.GetProperty("key").GetString());
        Assert.Equal([key], (await client.ListAsync($"/services/{service}/")).Select(e => e.Key));

        using (var list = RegistryProcess.Start("list", "--json", "--service", service, "--etcd", etcd.Endpoint))
        {
            Assert.Equal(0, await list.WaitForExitAsync());
            var instance = JsonDocument.Parse(Assert.Single(await list.ReadToEndAsync())).RootElement;
            Assert.Equal("127.0.0.1:18080", instance.GetProperty("address").GetString());
            Assert.Equal("a", instance.GetProperty("metadata").GetProperty("zone").GetString());
            Assert.Equal(key, instance.GetProperty("key").GetString());
            Assert.Empty(CliTestData.Complaints(list.Stderr));
        }

        await using var watch = await client.WatchKeyAsync(key);
        var clock = Stopwatch.StartNew();
        registry.Terminate();

        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, TimeSpan.FromSeconds(10));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"the key was deleted {clock.ElapsedMilliseconds} ms after SIGTERM");
        Assert.Equal(0, await registry.WaitForExitAsync());
        var deregistered = await registry.NextEventAsync("deregistered");
        Assert.Equal(registered.GetProperty("lease").GetString(), deregistered.GetProperty("lease").GetString());
        Assert.Empty(await client.ListAsync($"/services/{service}/"));
    }

    [Fact]
    public async Task Older_process_reports_the_conflict_and_exits_1_when_a_newer_one_takes_the_id()
    {
        string[] args = ["register", "--service", CliTestData.UniqueService(), "--address", "127.0.0.1:18081", "--ttl", "2", "--etcd", etcd.Endpoint];
        using var older = RegistryProcess.Start(args);
        await older.NextEventAsync("registered");

        using var newer = RegistryProcess.Start(args);
        await newer.NextEventAsync("registered");

        await older.NextEventAsync("conflict");
        Assert.Equal(1, await older.WaitForExitAsync());
        newer.Terminate();
        Assert.Equal(0, await newer.WaitForExitAsync());
    }

    [Fact]
    public async Task Register_deregisters_and_exits_0_on_SIGHUP()
    {
        var service = CliTestData.UniqueService();
        var key = $"/services/{service}/127.0.0.1:18089";
        using var client = etcd.CreateClient();
        using var registry = RegistryProcess.Start("register", "--service", service, "--address", "127.0.0.1:18089", "--etcd", etcd.Endpoint);
        await registry.NextEventAsync("registered");
        await using var watch = await client.WatchKeyAsync(key);

        // The terminal or ssh session it ran in closed.
        registry.HangUp();

        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, TimeSpan.FromSeconds(10));
        Assert.Equal(0, await registry.WaitForExitAsync());
        await registry.NextEventAsync("deregistered");
    }

    [Fact]
    public async Task SIGTERM_while_etcd_is_unreachable_exits_0()
    {
        using var registry = RegistryProcess.Start("register", "--service", CliTestData.UniqueService(), "--address", "127.0.0.1:18082",
            "--etcd", CliTestData.UnreachableEndpoint());
        Assert.Equal("delayed", (await registry.NextEventAsync()).GetProperty("event").GetString());
        await registry.WaitForStderrAsync(l => l.Contains("not made yet, retrying until etcd answers"));

        registry.Terminate();

        Assert.Equal(0, await registry.WaitForExitAsync());
    }

    [Fact]
    public async Task After_SIGKILL_the_key_is_deleted_within_the_ttl_plus_one_second()
    {
        const int ttl = 2;
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        using var registry = RegistryProcess.Start("register", "--service", service, "--address", "127.0.0.1:18083",
            "--ttl", $"{ttl}", "--etcd", etcd.Endpoint);
        var registered = await registry.NextEventAsync("registered");
        await using var watch = await client.WatchKeyAsync(registered.GetProperty("key").GetString()!);

        registry.Kill();
        var killed = Stopwatch.StartNew();
        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, TimeSpan.FromSeconds(ttl + 5));
        var gone = killed.Elapsed;

        Assert.True(gone < TimeSpan.FromSeconds(ttl + 1), $"the key was deleted {gone.TotalMilliseconds:0} ms after the kill");
        output.WriteLine($"kill -9 -> DELETE: {gone.TotalMilliseconds:0} ms (ttl {ttl} s)");
    }
}
