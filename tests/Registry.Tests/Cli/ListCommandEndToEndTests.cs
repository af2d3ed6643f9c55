using System.Text.Json;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>
/// <c>registry list</c> as a child process on a real etcd: the first snapshot of the registry's discovery, printed
/// as JSON lines or a table; values that are no instance are skipped and named on stderr.
/// </summary>
public sealed class ListCommandEndToEndTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task List_json_prints_each_live_instance_and_names_the_skipped_keys_on_stderr()
    {
        var service = CliTestData.UniqueService();
        var prefix = $"/services/{service}/";
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80", 2, ("zone", "a")));
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "b", "10.0.0.2:80"));
        await client.PutAsync(prefix + "garbage", "not json");
        await client.PutAsync(prefix + "elsewhere", System.Text.Encoding.UTF8.GetString(InstanceCodec.Encode(CliTestData.Instance(service, "other", "10.0.0.3:80"))));

        using var list = RegistryProcess.Start("list", "--json", "--service", service, "--etcd", etcd.Endpoint);

        Assert.Equal(0, await list.WaitForExitAsync());
        var listed = (await list.ReadToEndAsync()).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(["a", "b"], listed.Select(i => i.GetProperty("id").GetString()));
        Assert.Equal(prefix + "a", listed[0].GetProperty("key").GetString());
        Assert.Equal("10.0.0.1:80", listed[0].GetProperty("address").GetString());
        Assert.Equal(2, listed[0].GetProperty("weight").GetInt32());
        Assert.Equal("a", listed[0].GetProperty("metadata").GetProperty("zone").GetString());
        var complaints = CliTestData.Complaints(list.Stderr).ToList();
        Assert.Contains(complaints, l => l.Contains($"skipping {prefix}garbage at revision ", StringComparison.Ordinal));
        Assert.Contains(complaints, l => l.Contains($"skipping {prefix}elsewhere at revision ", StringComparison.Ordinal) && l.Contains($"names {prefix}other", StringComparison.Ordinal));
        Assert.Equal(2, complaints.Count);
    }

    [Fact]
    public async Task A_skipped_key_with_control_characters_or_bytes_that_are_not_UTF8_is_named_with_escapes_on_one_line()
    {
        var service = CliTestData.UniqueService();
        var prefix = $"/services/{service}/";
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80"));
        await client.PutAsync(prefix + "fake\nWARN forged", "not json");
        var bytes = System.Text.Encoding.UTF8.GetBytes(prefix + "b").Append((byte)0xFF).ToArray();
        await client.Raw.KVClient.PutAsync(new Etcdserverpb.PutRequest
        {
            Key = Google.Protobuf.ByteString.CopyFrom(bytes),
            Value = Google.Protobuf.ByteString.CopyFromUtf8("not json"),
        });

        using var list = RegistryProcess.Start("list", "--service", service, "--etcd", etcd.Endpoint);

        Assert.Equal(0, await list.WaitForExitAsync());
        var complaints = CliTestData.Complaints(list.Stderr).ToList();
        Assert.Contains(complaints, l => l.Contains($@"skipping {prefix}fake\nWARN forged at revision ", StringComparison.Ordinal));
        Assert.Contains(complaints, l => l.Contains($@"skipping {prefix}b\udcff at revision ", StringComparison.Ordinal));
        Assert.True(complaints.Count == 2, string.Join("\n", complaints));
        Assert.DoesNotContain(list.Stderr, l => l.StartsWith("WARN forged", StringComparison.Ordinal));
    }

    [Fact]
    public async Task The_table_shows_a_newline_in_a_value_as_an_escape_not_as_a_row()
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80", 1, ("zone", "a\nfake  10.6.6.6:80")));

        using var list = RegistryProcess.Start("list", "--service", service, "--etcd", etcd.Endpoint);

        Assert.Equal(0, await list.WaitForExitAsync());
        var lines = await list.ReadToEndAsync();
        Assert.Equal(2, lines.Count);
        Assert.EndsWith(@"zone=a\nfake  10.6.6.6:80", lines[1]);
    }

    [Fact]
    public async Task A_value_written_without_its_registration_time_shows_a_dash_in_the_table_and_null_in_json()
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await client.PutAsync($"/services/{service}/a", $$"""{"service":"{{service}}","id":"a","address":"10.0.0.1:80"}""");

        using var list = RegistryProcess.Start("list", "--service", service, "--etcd", etcd.Endpoint);
        using var json = RegistryProcess.Start("list", "--service", service, "--etcd", etcd.Endpoint, "--json");

        Assert.Equal(0, await list.WaitForExitAsync());
        var lines = await list.ReadToEndAsync();
        Assert.Equal(2, lines.Count);
        Assert.Matches(@"^\S+\s+a\s+10\.0\.0\.1:80\s+1\s+-\s+-\s+-$", lines[1]);
        Assert.Equal(0, await json.WaitForExitAsync());
        using var line = JsonDocument.Parse(Assert.Single(await json.ReadToEndAsync()));
        Assert.Equal(JsonValueKind.Null, line.RootElement.GetProperty("registeredAt").ValueKind);
    }

    [Fact]
    public async Task List_of_every_service_prints_a_table_sorted_by_service_and_id()
    {
        var first = CliTestData.UniqueService();
        var second = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(second, "x", "10.0.1.1:80"));
        await CliTestData.PutAsync(client, CliTestData.Instance(first, "y", "10.0.1.2:80", 1, ("zone", "b")));

        using var list = RegistryProcess.Start("list", "--etcd", etcd.Endpoint);

        Assert.Equal(0, await list.WaitForExitAsync());
        var table = await list.ReadToEndAsync();
        Assert.StartsWith("SERVICE", table[0]);
        var rows = table.Skip(1).Where(r => r.StartsWith(first, StringComparison.Ordinal) || r.StartsWith(second, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, rows.Count);
        Assert.Equal(string.CompareOrdinal(first, second) < 0 ? [first, second] : [second, first], rows.Select(r => r.Split(' ')[0]));
        Assert.Contains(rows, r => r.StartsWith(first, StringComparison.Ordinal) && r.Contains("10.0.1.2:80") && r.EndsWith("zone=b", StringComparison.Ordinal));
    }

    [Fact]
    public async Task List_of_a_service_with_no_instances_says_so_on_stderr_and_exits_0()
    {
        var service = CliTestData.UniqueService();
        using var list = RegistryProcess.Start("list", "--service", service, "--etcd", etcd.Endpoint);

        Assert.Equal(0, await list.WaitForExitAsync());
        Assert.Empty(await list.ReadToEndAsync());
        Assert.Equal([$"registry: no live instances under /services/{service}/"], CliTestData.Complaints(list.Stderr));
    }

    [Fact]
    public async Task List_waits_for_an_unreachable_etcd_and_prints_once_it_answers()
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80"));
        await using var proxy = new FaultProxy(etcd.ClientPort);
        proxy.Reset();
        using var list = RegistryProcess.Start("list", "--json", "--service", service, "--etcd", proxy.Endpoint);
        await list.WaitForStderrAsync(l => l.StartsWith($"registry: waiting for etcd at {proxy.Endpoint} (Ctrl-C to give up)", StringComparison.Ordinal));

        proxy.Heal();

        Assert.Equal(0, await list.WaitForExitAsync());
        Assert.Equal("a", JsonDocument.Parse(Assert.Single(await list.ReadToEndAsync())).RootElement.GetProperty("id").GetString());
    }

    [Fact]
    public async Task List_waiting_for_etcd_says_why_it_cannot_read_it()
    {
        // TLS to an etcd that speaks plain HTTP: reachable, but every listing fails in its handshake.
        var endpoint = etcd.Endpoint.Replace("http://", "https://", StringComparison.Ordinal);
        using var list = RegistryProcess.Start("list", "--etcd", endpoint);

        var waiting = await list.WaitForStderrAsync(l => l.Contains(": listing failed: ", StringComparison.Ordinal));

        Assert.StartsWith($"registry: waiting for etcd at {endpoint} (Ctrl-C to give up): listing failed: etcd Unavailable: ", waiting);
        Assert.Contains("The SSL connection could not be established", waiting);
        list.Terminate();
        Assert.Equal(1, await list.WaitForExitAsync());
    }

    [Fact]
    public async Task List_interrupted_before_etcd_answers_exits_1()
    {
        using var list = RegistryProcess.Start("list", "--etcd", CliTestData.UnreachableEndpoint());
        await list.WaitForStderrAsync(l => l.StartsWith("registry: waiting for etcd at ", StringComparison.Ordinal));

        list.Terminate();

        Assert.Equal(1, await list.WaitForExitAsync());
        Assert.Equal("registry: interrupted before etcd answered", list.Stderr[^1]);
        Assert.Empty(await list.ReadToEndAsync());
    }

    [Theory]
    [InlineData("list", "interrupted before etcd answered")]
    [InlineData("call", "interrupted while waiting for an instance")]
    public async Task A_command_whose_work_is_a_result_exits_1_when_SIGTERM_comes_while_its_host_starts(string command, string said)
    {
        string[] args = command == "call" ? ["call", "--service", "user"] : ["list"];
        using var process = RegistryProcess.Start([.. args, "--etcd", CliTestData.UnreachableEndpoint()], logLevel: "Debug");
        // The first line comes from the actor system as the host starts.
        await process.WaitForStderrAsync(_ => true);

        process.Terminate();

        Assert.True(await process.WaitForExitAsync() == 1, string.Join('\n', process.Stderr));
        Assert.Contains($"registry: {said}", process.Stderr);
        Assert.Empty(await process.ReadToEndAsync());
    }
}
