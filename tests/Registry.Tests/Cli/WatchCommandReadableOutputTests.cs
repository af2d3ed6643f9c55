using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary><c>registry watch</c> without <c>--json</c>: one readable line per instance and change, until Ctrl-C.</summary>
public sealed class WatchCommandReadableOutputTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task Watch_waits_for_etcd_then_prints_a_line_per_change_and_exits_0_on_SIGINT()
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "10.0.0.1:80"));
        await using var proxy = new FaultProxy(etcd.ClientPort);
        proxy.Reset();
        using var watch = RegistryProcess.Start(["watch", "--service", service, "--etcd", proxy.Endpoint], interruptible: true);
        await watch.WaitForStderrAsync(l => l.StartsWith($"registry: waiting for etcd at {proxy.Endpoint}", StringComparison.Ordinal));

        proxy.Heal();

        Assert.Matches($@"^= {service} 10\.0\.0\.1:80 \(rev \d+\)$", await watch.NextLineAsync());
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a1", "10.0.0.2:80"));
        Assert.Matches($@"^\+ {service} a1 at 10\.0\.0\.2:80 \(rev \d+\)$", await watch.NextLineAsync());
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a1", "10.0.0.2:80", weight: 4));
        Assert.Matches($@"^~ {service} a1 at 10\.0\.0\.2:80 \(rev \d+\): weight 1 -> 4$", await watch.NextLineAsync());
        // Written again by another tool, without registeredAt: shown as '-', not as year 1.
        await client.PutAsync($"/services/{service}/a1", $$"""{"service":"{{service}}","id":"a1","address":"10.0.0.2:80","weight":4}""");
        Assert.Matches($@"^~ {service} a1 at 10\.0\.0\.2:80 \(rev \d+\): registered -$", await watch.NextLineAsync());
        await client.DeleteAsync($"/services/{service}/a1");
        Assert.Matches($@"^- {service} a1 at 10\.0\.0\.2:80 \(rev \d+\)$", await watch.NextLineAsync());

        watch.Interrupt();

        Assert.Equal(0, await watch.WaitForExitAsync());
        Assert.Empty(await watch.ReadToEndAsync());
        Assert.Empty(CliTestData.Complaints(watch.Stderr));
    }
}
