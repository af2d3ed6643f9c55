using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Registry.Hosting;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Registration;

/// <summary>Deregistration in CoordinatedShutdown, directly and through Akka.Hosting.</summary>
public sealed class ShutdownTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static ServiceInstance Instance() => ServiceInstance.Create("user", $"127.0.0.1:{Random.Shared.Next(10_000, 60_000)}");

    [Fact]
    public async Task Coordinated_shutdown_revokes_every_lease_before_the_system_stops()
    {
        // The system outlives the shutdown's phases here, so its event collector still gets the Deregistered events
        // published at their end (a terminating system stops it first, and events still on their way are lost).
        await using var registry = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 30,
            "akka.coordinated-shutdown { terminate-actor-system = off, run-by-actor-system-terminate = off }");
        var a = await registry.RegisterAsync(Instance());
        var b = await registry.RegisterAsync(Instance());
        using var client = etcd.CreateClient();

        await CoordinatedShutdown.Get(registry.System).Run(CoordinatedShutdown.ClrExitReason.Instance);

        Assert.Null(await client.GetAsync(a.Key));
        Assert.Null(await client.GetAsync(b.Key));
        Assert.Equal(-1, await client.LeaseTimeToLiveAsync(a.LeaseId));
        Assert.Equal(-1, await client.LeaseTimeToLiveAsync(b.LeaseId));
        RegistrationEvent[] deregistered = [await registry.NextAsync(RegistrationEventKind.Deregistered), await registry.NextAsync(RegistrationEventKind.Deregistered)];
        Assert.Equal(new[] { (a.Key, a.LeaseId), (b.Key, b.LeaseId) }.Order(), deregistered.Select(e => (e.Key, e.LeaseId)).Order());
    }

    [Fact]
    public async Task The_hosting_extension_exposes_the_supervisor_and_deregisters_when_the_host_stops()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Services.AddAkka("hosted", (akka, _) => akka.AddServiceRegistry(o =>
        {
            o.Endpoints = [etcd.Endpoint];
            o.TtlSeconds = 30;
        }));
        using var host = builder.Build();
        await host.StartAsync();
        var supervisor = host.Services.GetRequiredService<IRequiredActor<RegistrySupervisor>>();
        using var client = etcd.CreateClient();

        var registered = await supervisor.ActorRef.Ask<Registered>(new Register(Instance()), TimeSpan.FromSeconds(10));
        Assert.NotNull(await client.GetAsync(registered.Key));
        await host.StopAsync();

        Assert.Null(await client.GetAsync(registered.Key));
    }
}
