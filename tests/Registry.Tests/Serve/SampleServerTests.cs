using System.Diagnostics;
using System.Text;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Registry.Host.Sample;
using Registry.Tests.Infrastructure;
using Xunit.Abstractions;
using GrpcHealth = Grpc.Health.V1;

namespace Registry.Tests.Serve;

/// <summary>In-process sample servers (Kestrel on free loopback ports) against a real etcd: when they register and how they leave.</summary>
public sealed class SampleServerTests(EtcdNode etcd, ITestOutputHelper output) : IClassFixture<EtcdNode>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Key_appears_only_once_the_registered_address_serves_calls()
    {
        var service = UserCalls.UniqueService("startup");
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchPrefixAsync($"/services/{service}/");
        // A hosted service that holds the start for a while just before Kestrel binds: a registration made before
        // the port listens would show up in etcd during that window, with the port refusing connections.
        await using var server = SampleServer.Create(UserCalls.Options(etcd.Endpoint, service, TimeSpan.Zero) with
        {
            ConfigureServices = services => services.AddHostedService<SlowStart>(),
        });

        var start = server.StartAsync();
        var put = await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Put, Patience);

        // The moment etcd holds the key, a new connection to the address in it is served.
        var registered = InstanceCodec.Decode(Encoding.UTF8.GetBytes(put.Value));
        var reply = await UserCalls.OnNewConnectionAsync(registered.Address, 7);
        Assert.Equal(registered.Id, reply.ServedBy);
        Assert.Equal("user-7", reply.Name);
        await start;
        Assert.Equal(put.Key, (await server.Registered).Key);
        Assert.Equal(registered.Address, server.Address);
    }

    [Fact]
    public async Task Stop_deletes_the_key_while_still_serving_then_lets_the_call_in_flight_finish()
    {
        // Long enough for a new connection's call after the delete on a loaded machine; the slow call outlasts it.
        var drain = TimeSpan.FromSeconds(3);
        var service = UserCalls.UniqueService("stop");
        await using var server = SampleServer.Create(UserCalls.Options(etcd.Endpoint, service, drain));
        await server.StartAsync();
        var registered = await server.Registered.WaitAsync(Patience);
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync(registered.Key);
        using var channel = UserCalls.Channel(server.Address);
        var slow = new UserService.UserServiceClient(channel).GetUserInfoAsync(new GetUserInfoRequest { Id = 1, DelayMs = (int)(drain + TimeSpan.FromSeconds(2)).TotalMilliseconds }).ResponseAsync;
        await UserCalls.EventuallyAsync(() => server.InFlightCalls == 1, "the slow call to reach the server");

        var clock = Stopwatch.StartNew();
        var stop = server.StopAsync();
        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, Patience);
        var deleted = clock.Elapsed;

        // The key is gone and the port still accepts: clients that have not seen the change yet are still served.
        Assert.Equal(2, (await UserCalls.OnNewConnectionAsync(server.Address, 2)).Id);
        Assert.False(stop.IsCompleted);
        var reply = await slow;
        var finished = clock.Elapsed;
        await stop.WaitAsync(Patience);
        var stopped = clock.Elapsed;

        Assert.Equal(registered.Instance.Id, reply.ServedBy);
        Assert.True(stopped >= drain, $"stopped after {stopped}, before the drain delay of {drain} ran out");
        var refused = await Assert.ThrowsAsync<RpcException>(() => UserCalls.OnNewConnectionAsync(server.Address, 3));
        Assert.Equal(StatusCode.Unavailable, refused.StatusCode);
        output.WriteLine($"stop -> key deleted {deleted.TotalMilliseconds:0} ms; in-flight call done {finished.TotalMilliseconds:0} ms; stopped {stopped.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Servers_in_one_process_each_get_a_port_and_a_registration_of_their_own()
    {
        var service = UserCalls.UniqueService("pair");
        await using var a = SampleServer.Create(UserCalls.Options(etcd.Endpoint, service, TimeSpan.Zero));
        await using var b = SampleServer.Create(UserCalls.Options(etcd.Endpoint, service, TimeSpan.Zero) with { Weight = 3, Metadata = ServiceInstance.EmptyMetadata.Add("zone", "b") });
        await Task.WhenAll(a.StartAsync(), b.StartAsync());
        await Task.WhenAll(a.Registered, b.Registered).WaitAsync(Patience);
        using var client = etcd.CreateClient();

        var listed = (await client.ListAsync($"/services/{service}/")).Select(e => InstanceCodec.Decode(Encoding.UTF8.GetBytes(e.Value))).ToList();

        Assert.Equal(new[] { a.Address, b.Address }.Order(), listed.Select(i => i.Address).Order());
        Assert.NotEqual(a.Address, b.Address);
        Assert.Equal(3, listed.Single(i => i.Address == b.Address).Weight);
        Assert.Equal("b", listed.Single(i => i.Address == b.Address).Metadata["zone"]);
        Assert.Equal(b.Instance!.Id, (await UserCalls.OnNewConnectionAsync(b.Address, 1)).ServedBy);
        await a.StopAsync();
        Assert.Equal(b.Address, InstanceCodec.Decode(Encoding.UTF8.GetBytes(Assert.Single(await client.ListAsync($"/services/{service}/")).Value)).Address);
    }

    [Fact]
    public async Task Stop_while_etcd_never_answered_does_not_wait_the_drain_delay()
    {
        var unreachable = $"http://127.0.0.1:{FreePorts.Take(1)[0]}";
        var log = new LogCapture();
        // A drain longer than the test's patience: a stop that waited it could not end in time.
        await using var server = SampleServer.Create(UserCalls.Options(unreachable, UserCalls.UniqueService("nowhere"), TimeSpan.FromSeconds(40)) with
        {
            ShutdownTimeout = TimeSpan.FromSeconds(60),
            ConfigureServices = log.AddTo,
        });
        await server.StartAsync();
        Assert.Equal(0, (await UserCalls.OnNewConnectionAsync(server.Address, 0)).Id);

        await server.StopAsync().WaitAsync(Patience);

        // Nothing was registered, so no client can be told to leave: there is nothing to drain.
        Assert.Contains(log.Messages, m => m.StartsWith("stopping to accept calls", StringComparison.Ordinal));
        Assert.DoesNotContain(log.Messages, m => m.Contains("so clients see it leave", StringComparison.Ordinal));
        var refused = await Assert.ThrowsAsync<SampleRegistrationException>(() => server.Registered);
        Assert.Equal(RegistrationFailure.Stopping, refused.Failure.Kind);
    }

    /// <summary>Starts slowly, between the registration's hosted service and Kestrel's.</summary>
    private sealed class SlowStart : IHostedService
    {
        // A fault duration, not a synchronisation: it only widens the window a wrong start order would show in.
        public Task StartAsync(CancellationToken ct) => Task.Delay(TimeSpan.FromMilliseconds(500), ct);

        public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
    }

    [Fact]
    public async Task The_grpc_health_service_serves_and_the_registry_check_holds_the_registration()
    {
        await using var server = SampleServer.Create(UserCalls.Options(etcd.Endpoint, UserCalls.UniqueService("health"), TimeSpan.Zero));
        await server.StartAsync();
        var registered = await server.Registered.WaitAsync(Patience);
        using var channel = UserCalls.Channel(server.Address);

        var reply = await new GrpcHealth.Health.HealthClient(channel).CheckAsync(new GrpcHealth.HealthCheckRequest());

        Assert.Equal(GrpcHealth.HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
        // The service's answer comes from the application's health checks, the registry's among them.
        var checks = server.Services.GetRequiredService<HealthCheckService>();
        var clock = Stopwatch.StartNew();
        HealthReportEntry entry;
        while ((entry = (await checks.CheckHealthAsync()).Entries["registry"]).Description != "1 registration held")
        {
            if (clock.Elapsed > Patience)
                Assert.Fail($"the registry check still says '{entry.Description}' after {Patience.TotalSeconds:0} s; expected '1 registration held'");
            await Task.Delay(20);
        }
        Assert.Equal("held", entry.Data[registered.Key]);
    }
}
