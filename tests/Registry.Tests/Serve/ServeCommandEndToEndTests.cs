using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Registry.Host.Cli;
using Registry.Host.Sample;
using Registry.Tests.Cli;
using Registry.Tests.Infrastructure;
using Xunit.Abstractions;

namespace Registry.Tests.Serve;

/// <summary>
/// The built <c>registry serve</c> as a child process against a real etcd: registers once it serves, leaves on
/// SIGTERM without failing a call, vanishes after kill -9 within its TTL. Needs <c>etcd</c> on the PATH.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class ServeCommandEndToEndTests(EtcdNode etcd, ITestOutputHelper output) : IClassFixture<EtcdNode>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Serve_registers_only_once_its_port_serves_calls()
    {
        var service = UserCalls.UniqueService("serve-up");
        var address = FreeAddress();
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchPrefixAsync($"/services/{service}/");
        using var serve = Serve(service, address);

        var put = await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Put, Patience);

        // The moment etcd holds the key, a new connection to the address is served.
        var reply = await UserCalls.OnNewConnectionAsync(address, 42);
        Assert.Equal(address, reply.ServedBy);
        Assert.Equal(address, InstanceCodec.Decode(Encoding.UTF8.GetBytes(put.Value)).Address);
        var registered = await serve.NextEventAsync("registered");
        Assert.Equal(put.Key, registered.GetProperty("key").GetString());
    }

    [Fact]
    public async Task SIGTERM_deletes_the_key_while_serving_lets_the_call_in_flight_finish_and_exits_0()
    {
        var service = UserCalls.UniqueService("serve-term");
        var address = FreeAddress();
        using var serve = Serve(service, address, "--drain", "1");
        var registered = await serve.NextEventAsync("registered");
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync(registered.GetProperty("key").GetString()!);
        using var channel = UserCalls.Channel(address);
        var user = new UserService.UserServiceClient(channel);
        var slow = user.GetUserInfoAsync(new GetUserInfoRequest { Id = 1, DelayMs = 4000 }).ResponseAsync;
        // Sent after the slow call on the same connection: once answered, the connection is up and the slow call on it.
        await user.GetUserInfoAsync(new GetUserInfoRequest { Id = 0 });

        var clock = Stopwatch.StartNew();
        serve.Terminate();
        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, Patience);
        var deleted = clock.Elapsed;
        Assert.True(deleted < TimeSpan.FromSeconds(1), $"the key was deleted {deleted.TotalMilliseconds:0} ms after SIGTERM");

        // The key is gone and the port still accepts new connections.
        Assert.Equal(2, (await UserCalls.OnNewConnectionAsync(address, 2)).Id);
        Assert.False(serve.HasExited);
        var reply = await slow;
        var finished = clock.Elapsed;
        Assert.Equal(0, await serve.WaitForExitAsync());
        var exited = clock.Elapsed;

        Assert.Equal(address, reply.ServedBy);
        var deregistered = await serve.NextEventAsync("deregistered");
        Assert.Equal(registered.GetProperty("lease").GetString(), deregistered.GetProperty("lease").GetString());
        output.WriteLine($"SIGTERM -> key deleted {deleted.TotalMilliseconds:0} ms; in-flight call done {finished.TotalMilliseconds:0} ms; exit {exited.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Kill_9_removes_the_key_within_the_TTL_plus_1_s()
    {
        const int ttl = 2;
        using var serve = Serve(UserCalls.UniqueService("serve-kill"), FreeAddress(), "--ttl", ttl.ToString());
        var registered = await serve.NextEventAsync("registered");
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync(registered.GetProperty("key").GetString()!);

        var clock = Stopwatch.StartNew();
        serve.Kill();
        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, Patience);
        var gone = clock.Elapsed;

        output.WriteLine($"kill -9 -> key deleted {gone.TotalMilliseconds:0} ms (TTL {ttl} s)");
        Assert.True(gone <= TimeSpan.FromSeconds(ttl + 1), $"the key lived {gone} after kill -9; TTL {ttl} s");
    }

    [Fact]
    public async Task Older_serve_reports_the_conflict_stops_and_exits_1_when_a_newer_one_takes_the_id()
    {
        var service = UserCalls.UniqueService("serve-twin");
        // A TTL of 2 s: the older process checks its key every TTL, so it notices the newer one within 2 s.
        using var older = Serve(service, FreeAddress(), "--id", "twin", "--ttl", "2");
        await older.NextEventAsync("registered");
        var newerAddress = FreeAddress();
        using var newer = Serve(service, newerAddress, "--id", "twin", "--ttl", "2");
        await newer.NextEventAsync("registered");

        await older.NextEventAsync("conflict");
        Assert.Equal(1, await older.WaitForExitAsync());

        using var client = etcd.CreateClient();
        var entry = await client.GetAsync($"/services/{service}/twin");
        Assert.Equal(newerAddress, InstanceCodec.Decode(Encoding.UTF8.GetBytes(entry!.Value)).Address);
        newer.Terminate();
        Assert.Equal(0, await newer.WaitForExitAsync());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Serve_on_an_address_it_cannot_listen_on_exits_1_naming_the_address_and_registers_nothing(bool takenPort)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        // A taken port, or an IP address of no interface here (TEST-NET-1, RFC 5737).
        var address = takenPort ? $"127.0.0.1:{((IPEndPoint)taken.LocalEndpoint).Port}" : "192.0.2.1:8080";
        var service = UserCalls.UniqueService("serve-taken");
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchPrefixAsync($"/services/{service}/");
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var code = await RegistryCommand.InvokeAsync(["serve", "--service", service, "--address", address, "--etcd", etcd.Endpoint], stdout, stderr, _ => null);

        Assert.Equal(1, code);
        var line = Assert.Single(stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        Assert.StartsWith($"registry: --address {address}: cannot listen: ", line);
        Assert.Empty(stdout.ToString());
        await watch.CatchUpAsync();
        Assert.Empty(watch.Events);
    }

    [Fact]
    public async Task Serve_stopped_by_SIGTERM_while_its_host_starts_exits_0_and_leaves_nothing_registered()
    {
        var service = UserCalls.UniqueService("serve-early");
        using var serve = RegistryProcess.Start(["serve", "--service", service, "--address", FreeAddress(), "--etcd", etcd.Endpoint], logLevel: "Debug");
        // The first line comes from the actor system as the host starts, before Kestrel binds.
        await serve.WaitForStderrAsync(_ => true);

        serve.Terminate();

        Assert.True(await serve.WaitForExitAsync() == 0, string.Join('\n', serve.Stderr));
        using var client = etcd.CreateClient();
        Assert.Empty(await client.ListAsync($"/services/{service}/"));
    }

    private RegistryProcess Serve(string service, string address, params string[] more) =>
        RegistryProcess.Start(["serve", "--service", service, "--address", address, "--etcd", etcd.Endpoint, .. more]);

    private static string FreeAddress() => $"127.0.0.1:{FreePorts.Take(1)[0]}";
}
