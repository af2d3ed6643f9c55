using System.Collections.Immutable;
using System.Diagnostics;
using System.Text.Json;
using Registry.Tests.Discovery;
using Registry.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Registry.Tests.Cli;

/// <summary>
/// <c>registry watch --service user --json</c> as a child process, through a faulty link to a real etcd: a consumer
/// that applies its stdout lines in order holds etcd's membership, across changes and a compaction made while the
/// link was cut, with junk values under the prefix. It holds the view to 2 s after the heal, so it runs with the other
/// wall-clock fault tests.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class WatchCommandEndToEndTests(EtcdNode etcd, ITestOutputHelper output) : IClassFixture<EtcdNode>
{
    private const string Prefix = "/services/user/";
    private static readonly TimeSpan HealBudget = TimeSpan.FromSeconds(2);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Lines_applied_in_order_equal_etcds_instances_within_2s_of_healing_a_cut_with_changes_and_compaction(bool holdUntilStale)
    {
        using var client = etcd.CreateClient();
        foreach (var entry in await client.ListAsync(Prefix)) await client.DeleteAsync(entry.Key);
        await CliTestData.PutAsync(client, CliTestData.Instance("user", "a", "10.0.0.1:80", 2, ("zone", "a")));
        await CliTestData.PutAsync(client, CliTestData.Instance("user", "b", "10.0.0.2:80"));
        await CliTestData.PutAsync(client, CliTestData.Instance("user", "c", "10.0.0.3:80"));
        await client.PutAsync(Prefix + "junk", "not json");
        await using var proxy = new FaultProxy(etcd.ClientPort);
        // At Information the watcher's log says whether it re-listed, which tells the two kinds of cut apart.
        using var watch = RegistryProcess.Start(["watch", "--service", "user", "--json", "--etcd", proxy.Endpoint], "Information");
        var consumer = new Consumer(watch);

        await consumer.ReadAsync(3);
        Assert.All(consumer.Lines, line => Assert.Equal("snapshot", JsonDocument.Parse(line).RootElement.GetProperty("event").GetString()));
        consumer.AssertEquals(await DiscoveryUnderTest.EtcdViewAsync(client, Prefix));
        await watch.WaitForStderrAsync(l => l.Contains($"skipping {Prefix}junk at revision", StringComparison.Ordinal));
        // A change seen through the watch proves it is open: a cut before that would only delay its start.
        await CliTestData.PutAsync(client, CliTestData.Instance("user", "ready", "10.0.0.9:80"));
        await consumer.ConvergeAsync(await DiscoveryUnderTest.EtcdViewAsync(client, Prefix), TimeSpan.FromSeconds(10));

        proxy.Hold();
        await client.DeleteAsync(Prefix + "ready");
        await CliTestData.PutAsync(client, CliTestData.Instance("user", "a", "10.0.0.1:80", 3, ("zone", "b")));
        await client.DeleteAsync(Prefix + "b");
        await CliTestData.PutAsync(client, CliTestData.Instance("user", "d", "10.0.0.4:80"));
        await client.PutAsync(Prefix + "junk2", """{"service":"user"}""");
        await client.PutAsync(Prefix + "c", "no longer an instance");
        await client.CompactAsync();
        if (holdUntilStale)
        {
            // Past the watcher's silence timeout: it drops its watch and, once the link heals, lists again (the
            // history it missed is compacted anyway) and reports the difference.
            await watch.WaitForStderrAsync(l => l.StartsWith("registry: etcd unreachable, showing the last known membership: ", StringComparison.Ordinal));
        }
        else
        {
            // Fault duration: a cut well within the silence timeout, which the open watch stream outlives.
            await Task.Delay(TimeSpan.FromSeconds(2));
        }
        proxy.Heal();
        var healed = Stopwatch.StartNew();
        var expected = await DiscoveryUnderTest.EtcdViewAsync(client, Prefix);

        await consumer.ConvergeAsync(expected, HealBudget - healed.Elapsed);
        output.WriteLine($"{(holdUntilStale ? "cut until stale" : "2 s cut")}: heal -> view equals etcd's in {healed.Elapsed.TotalMilliseconds:0} ms");
        Assert.Equal(["a", "d"], expected.Values.Select(i => i.Id));
        if (holdUntilStale) await watch.WaitForStderrAsync(l => l == "registry: etcd reachable again");

        await CliTestData.PutAsync(client, CliTestData.Instance("user", "e", "10.0.0.5:80"));
        await client.DeleteAsync(Prefix + "d");
        await consumer.ConvergeAsync(await DiscoveryUnderTest.EtcdViewAsync(client, Prefix), TimeSpan.FromSeconds(5));

        watch.Terminate();
        Assert.Equal(0, await watch.WaitForExitAsync());
        consumer.Apply(await watch.ReadToEndAsync());
        Assert.DoesNotContain(consumer.Lines, line => line.Contains("junk", StringComparison.Ordinal));
        var relisted = watch.Stderr.Any(l => l.Contains($"listed {Prefix} again at revision", StringComparison.Ordinal));
        Assert.True(holdUntilStale == relisted, $"re-listed: {relisted}; stderr:\n{string.Join('\n', watch.Stderr)}");
    }

    /// <summary>What a consumer of <c>watch --json</c> holds: the lines applied in order, each checked to follow from the view.</summary>
    private sealed class Consumer(RegistryProcess watch)
    {
        private readonly Dictionary<string, JsonElement> _view = new(StringComparer.Ordinal);

        public List<string> Lines { get; } = [];

        public async Task ReadAsync(int count)
        {
            for (var i = 0; i < count; i++) Apply([await watch.NextLineAsync()]);
        }

        /// <summary>Applies lines as they come until the view equals <paramref name="expected"/>; fails after <paramref name="budget"/>.</summary>
        public async Task ConvergeAsync(ImmutableSortedDictionary<string, ServiceInstance> expected, TimeSpan budget)
        {
            var deadline = Stopwatch.StartNew();
            while (!Matches(expected))
            {
                var left = budget - deadline.Elapsed;
                if (left <= TimeSpan.Zero) break;
                string line;
                try
                {
                    line = await watch.NextLineAsync(left);
                }
                catch (Xunit.Sdk.XunitException)
                {
                    // No line within the budget: the assertion below says how the view differs.
                    break;
                }
                Apply([line]);
            }
            AssertEquals(expected);
        }

        public void Apply(IEnumerable<string> lines)
        {
            foreach (var line in lines)
            {
                Lines.Add(line);
                var e = JsonDocument.Parse(line).RootElement;
                var kind = e.GetProperty("event").GetString();
                var key = $"{e.GetProperty("service").GetString()}/{e.GetProperty("id").GetString()}";
                Assert.True(e.GetProperty("revision").GetInt64() > 0, line);
                switch (kind)
                {
                    case "snapshot":
                        Assert.True(Lines.Take(Lines.Count - 1).All(l => l.StartsWith("""{"event":"snapshot",""", StringComparison.Ordinal)), $"snapshot after a change: {line}");
                        Assert.True(_view.TryAdd(key, e), $"snapshot twice: {line}");
                        break;
                    case "up":
                        Assert.True(_view.TryAdd(key, e), $"up for a known instance: {line}");
                        break;
                    case "update":
                        Assert.True(_view.ContainsKey(key), $"update for an unknown instance: {line}");
                        _view[key] = e;
                        break;
                    case "down":
                        Assert.True(_view.Remove(key), $"down for an unknown instance: {line}");
                        break;
                    default:
                        Assert.Fail($"unexpected event: {line}");
                        break;
                }
            }
        }

        public void AssertEquals(ImmutableSortedDictionary<string, ServiceInstance> expected)
        {
            Assert.True(Matches(expected),
                $"etcd has [{string.Join(", ", expected.Values.Select(Describe))}], the output [{string.Join(", ", _view.Values.Select(v => v.ToString()))}]");
        }

        private bool Matches(ImmutableSortedDictionary<string, ServiceInstance> expected) =>
            expected.Count == _view.Count && expected.All(kv => _view.TryGetValue(kv.Key, out var e) && Describe(kv.Value) == Describe(e));

        private static string Describe(ServiceInstance i) =>
            $"{i.Service}/{i.Id}@{i.Address} w{i.Weight} [{string.Join(",", i.Metadata.Select(m => $"{m.Key}={m.Value}"))}]";

        private static string Describe(JsonElement e) =>
            $"{e.GetProperty("service").GetString()}/{e.GetProperty("id").GetString()}@{e.GetProperty("address").GetString()} w{e.GetProperty("weight").GetInt32()} " +
            $"[{string.Join(",", e.GetProperty("metadata").EnumerateObject().Select(m => $"{m.Name}={m.Value.GetString()}"))}]";
    }
}
