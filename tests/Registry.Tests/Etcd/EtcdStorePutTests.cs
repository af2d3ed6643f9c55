using System.Globalization;
using System.Text;
using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>The store's ownership-checked writes against a real etcd: who may write a key, and what the answer says.</summary>
public sealed class EtcdStorePutTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    [Fact]
    public async Task A_takeover_write_replaces_a_key_bound_to_another_lease_and_names_that_lease()
    {
        await using var store = Store();
        using var client = etcd.CreateClient();
        var theirs = await client.GrantLeaseAsync(30);
        await client.PutAsync("/takeover/a", "theirs", theirs);
        var mine = (await store.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;

        var outcome = await store.PutAsync("/takeover/a", Utf8("mine"), mine, PutCondition.Always, CancellationToken.None);

        Assert.True(outcome.Succeeded);
        Assert.Equal((theirs, "theirs"), (outcome.Other!.LeaseId, Text(outcome.Other.Value)));
        var stored = await client.GetAsync("/takeover/a");
        Assert.Equal((mine, "mine", outcome.Revision), (stored!.LeaseId, stored.Value, stored.ModRevision));
    }

    [Fact]
    public async Task A_takeover_write_of_an_absent_key_reports_no_previous_value()
    {
        await using var store = Store();
        var mine = (await store.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;

        var outcome = await store.PutAsync("/takeover/b", Utf8("mine"), mine, PutCondition.Always, CancellationToken.None);

        Assert.True(outcome.Succeeded);
        Assert.Null(outcome.Other);
    }

    [Fact]
    public async Task A_write_if_absent_is_refused_while_the_key_exists_and_names_its_holder()
    {
        await using var store = Store();
        using var client = etcd.CreateClient();
        var theirs = await client.GrantLeaseAsync(30);
        await client.PutAsync("/absent/a", "theirs", theirs);
        var mine = (await store.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;

        var refused = await store.PutAsync("/absent/a", Utf8("mine"), mine, PutCondition.Absent, CancellationToken.None);
        await client.DeleteAsync("/absent/a");
        var written = await store.PutAsync("/absent/a", Utf8("mine"), mine, PutCondition.Absent, CancellationToken.None);

        Assert.False(refused.Succeeded);
        Assert.Equal(theirs, refused.Other!.LeaseId);
        Assert.True(written.Succeeded);
        Assert.Equal(mine, (await client.GetAsync("/absent/a"))!.LeaseId);
    }

    [Fact]
    public async Task A_write_bound_to_a_lease_only_replaces_a_key_still_bound_to_it()
    {
        await using var store = Store();
        using var client = etcd.CreateClient();
        var mine = (await store.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;
        await store.PutAsync("/bound/a", Utf8("v1"), mine, PutCondition.Always, CancellationToken.None);

        var updated = await store.PutAsync("/bound/a", Utf8("v2"), mine, PutCondition.BoundTo(mine), CancellationToken.None);
        var theirs = await client.GrantLeaseAsync(30);
        await client.PutAsync("/bound/a", "theirs", theirs);
        var refused = await store.PutAsync("/bound/a", Utf8("v3"), mine, PutCondition.BoundTo(mine), CancellationToken.None);

        Assert.True(updated.Succeeded);
        Assert.Equal("v1", Text(updated.Other!.Value));
        Assert.False(refused.Succeeded);
        Assert.Equal(theirs, refused.Other!.LeaseId);
        Assert.Equal("theirs", (await client.GetAsync("/bound/a"))!.Value);
    }

    [Fact]
    public async Task A_write_bound_to_no_lease_replaces_only_a_key_that_exists_without_one()
    {
        // etcd compares a missing key's lease as 0: the store must not read that as "bound to no lease".
        await using var store = Store();
        using var client = etcd.CreateClient();
        var mine = (await store.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;

        var absent = await store.PutAsync("/unleased/a", Utf8("mine"), mine, PutCondition.BoundTo(0), CancellationToken.None);
        var theirs = await client.GrantLeaseAsync(30);
        await client.PutAsync("/unleased/a", "theirs", theirs);
        var leased = await store.PutAsync("/unleased/a", Utf8("mine"), mine, PutCondition.BoundTo(0), CancellationToken.None);
        await client.PutAsync("/unleased/a", "by hand");
        var unleased = await store.PutAsync("/unleased/a", Utf8("mine"), mine, PutCondition.BoundTo(0), CancellationToken.None);

        Assert.False(absent.Succeeded);
        Assert.Null(absent.Other);
        Assert.False(leased.Succeeded);
        Assert.Equal(theirs, leased.Other!.LeaseId);
        Assert.True(unleased.Succeeded);
        Assert.Equal((0L, "by hand"), (unleased.Other!.LeaseId, Text(unleased.Other.Value)));
        var stored = await client.GetAsync("/unleased/a");
        Assert.Equal((mine, "mine"), (stored!.LeaseId, stored.Value));
    }

    [Fact]
    public async Task A_delete_of_an_unleased_key_deletes_only_a_key_that_exists_without_a_lease()
    {
        await using var store = Store();
        using var client = etcd.CreateClient();

        var absent = await store.DeleteUnleasedAsync("/unleased/b", CancellationToken.None);
        var theirs = await client.GrantLeaseAsync(30);
        await client.PutAsync("/unleased/b", "theirs", theirs);
        var leased = await store.DeleteUnleasedAsync("/unleased/b", CancellationToken.None);
        var kept = await client.GetAsync("/unleased/b");
        await client.PutAsync("/unleased/b", "by hand");
        var unleased = await store.DeleteUnleasedAsync("/unleased/b", CancellationToken.None);

        Assert.False(absent);
        Assert.False(leased);
        Assert.Equal(theirs, kept!.LeaseId);
        Assert.True(unleased);
        Assert.Null(await client.GetAsync("/unleased/b"));
    }

    [Fact]
    public async Task A_write_bound_to_a_revoked_lease_fails_as_lease_not_found_whatever_the_condition()
    {
        await using var store = Store();
        var gone = (await store.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;
        await store.RevokeLeaseAsync(gone, CancellationToken.None);

        foreach (var condition in new[] { PutCondition.Always, PutCondition.Absent })
        {
            var e = await Assert.ThrowsAsync<LeaseNotFoundException>(() => store.PutAsync("/gone/a", Utf8("v"), gone, condition, CancellationToken.None));
            Assert.Equal(gone, e.LeaseId);
        }
    }

    [Fact]
    public async Task Takeover_writes_asked_at_once_each_land_with_their_own_previous_value_and_a_gone_lease_fails_alone()
    {
        await using var store = Store();
        using var client = etcd.CreateClient();
        var theirs = await client.GrantLeaseAsync(30);
        for (var i = 0; i < 300; i += 3) await client.PutAsync($"/burst/{i}", $"theirs-{i}", theirs);
        // Granted with the fixture client's patience: 300 raft writes at once can outlast the store's call timeout under
        // load, and the test is about the writes.
        var leases = await Task.WhenAll(Enumerable.Range(0, 300).Select(_ => client.GrantLeaseAsync(30)));
        await client.RevokeLeaseAsync(leases[150]);

        var writes = Enumerable.Range(0, 300)
            .Select(i => store.PutAsync($"/burst/{i}", Utf8($"mine-{i}"), leases[i], PutCondition.Always, CancellationToken.None))
            .ToArray();

        await Assert.ThrowsAsync<LeaseNotFoundException>(() => writes[150]);
        await Task.WhenAll(writes.Where((_, i) => i != 150));
        var stored = (await client.ListAsync("/burst/")).ToDictionary(e => e.Key);
        for (var i = 0; i < 300; i++)
        {
            if (i == 150) continue;
            var outcome = await writes[i];
            Assert.True(outcome.Succeeded);
            Assert.Equal(i % 3 == 0 ? $"theirs-{i}" : null, outcome.Other is null ? null : Text(outcome.Other.Value));
            Assert.Equal((leases[i], $"mine-{i}"), (stored[$"/burst/{i}"].LeaseId, stored[$"/burst/{i}"].Value));
            // The revision of the write that landed, also for a put batched into a transaction with others.
            Assert.Equal(stored[$"/burst/{i}"].ModRevision, outcome.Revision);
        }
        Assert.Equal("theirs-150", stored["/burst/150"].Value);
    }

    /// <summary>
    /// etcd 3.4 before 3.4.24 copies its uncommitted write buffer for every transaction, so a registration burst of
    /// transactions cost 1.5× one of puts; a lone takeover write has nothing to compare and goes out as a put.
    /// </summary>
    [Fact]
    public async Task A_lone_takeover_write_reaches_etcd_as_a_put_and_a_conditional_one_as_a_transaction()
    {
        await using var store = Store();
        var mine = (await store.GrantLeaseAsync(30, CancellationToken.None)).LeaseId;
        var before = await ReceivedAsync();

        await store.PutAsync("/methods/a", Utf8("v"), mine, PutCondition.Always, CancellationToken.None);
        var afterTakeover = await ReceivedAsync();
        await store.PutAsync("/methods/a", Utf8("v2"), mine, PutCondition.BoundTo(mine), CancellationToken.None);
        var afterConditional = await ReceivedAsync();

        Assert.Equal((1, 0), (afterTakeover["Put"] - before["Put"], afterTakeover["Txn"] - before["Txn"]));
        Assert.Equal((0, 1), (afterConditional["Put"] - afterTakeover["Put"], afterConditional["Txn"] - afterTakeover["Txn"]));
    }

    private EtcdStore Store() =>
        new(RegistrySettings.From(ConfigurationFactory.ParseString($"registry.etcd.endpoints = [\"{etcd.Endpoint}\"]")));

    /// <summary>etcd's own count of the Put and Txn requests it received (its /metrics).</summary>
    private async Task<Dictionary<string, double>> ReceivedAsync()
    {
        var counts = new Dictionary<string, double> { ["Put"] = 0, ["Txn"] = 0 };
        foreach (var line in (await Http.GetStringAsync($"{etcd.Endpoint}/metrics")).Split('\n'))
        {
            if (!line.StartsWith("grpc_server_msg_received_total{", StringComparison.Ordinal)) continue;
            foreach (var method in counts.Keys.ToList())
            {
                if (line.Contains($"grpc_method=\"{method}\"", StringComparison.Ordinal))
                    counts[method] += double.Parse(line[(line.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);
            }
        }
        return counts;
    }

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    private static string Text(byte[] value) => Encoding.UTF8.GetString(value);
}
