using System.Diagnostics;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Registry.Hosting;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Health;

/// <summary>The health check as an application wires it (Generic Host, Akka.Hosting, AddHealthChecks) against real etcd.</summary>
public sealed class RegistryHealthCheckHostingTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_host_reports_healthy_once_registered_degraded_while_etcd_is_stopped_and_healthy_after_its_restart()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddAkka("health", (akka, _) => akka.AddServiceRegistry(o =>
        {
            o.Endpoints = [etcd.Endpoint];
            o.TtlSeconds = 3;
        }));
        builder.Services.AddHealthChecks().AddServiceRegistry();
        using var host = builder.Build();
        await host.StartAsync();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        var supervisor = await host.Services.GetRequiredService<IRequiredActor<RegistrySupervisor>>().GetAsync();
        try
        {
            // Registered before the first check: the state comes from the tracker started with the registry, not with the check.
            var instance = ServiceInstance.Create("health", $"127.0.0.1:{Random.Shared.Next(10_000, 60_000)}");
            var registered = await supervisor.Ask<Registered>(new Register(instance), Patience);

            Assert.Equal("held", (await UntilAsync(health, HealthStatus.Healthy, "1 registration held")).Data[registered.Key]);

            await etcd.StopAsync();
            await UntilAsync(health, HealthStatus.Degraded, $"renewals failing: {registered.Key}");

            // Renewals recover on the same lease, or a lease expired meanwhile is replaced: held again either way.
            await etcd.RestartAsync();
            await UntilAsync(health, HealthStatus.Healthy, "1 registration held");
        }
        finally
        {
            // The fixture's etcd is left running, whatever failed.
            if (!etcd.IsRunning) await etcd.RestartAsync();
            await host.StopAsync();
        }
    }

    [Fact]
    public async Task A_client_reports_degraded_while_its_watch_of_a_service_has_lost_etcd_and_healthy_once_it_is_live_again()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddAkka("health-discovery", (akka, _) => akka.AddServiceRegistry(o => o.Endpoints = [etcd.Endpoint]));
        builder.Services.AddHealthChecks().AddServiceRegistry();
        using var host = builder.Build();
        await host.StartAsync();
        var health = host.Services.GetRequiredService<HealthCheckService>();
        try
        {
            // A client that only calls: its balancer watches the service, nothing is registered.
            ServiceRegistry.Get(host.Services.GetRequiredService<ActorSystem>()).Balancer("health-watched");
            Assert.Equal("live", (await UntilAsync(health, HealthStatus.Healthy, "1 watched service live")).Data["discovery:health-watched"]);

            await etcd.StopAsync();
            var stale = await UntilAsync(health, HealthStatus.Degraded, d => d.StartsWith("stale view (") && d.EndsWith("): health-watched"), "stale view (…): health-watched");
            Assert.Equal("stale", stale.Data["discovery:health-watched"]);

            await etcd.RestartAsync();
            await UntilAsync(health, HealthStatus.Healthy, "1 watched service live");
        }
        finally
        {
            // The fixture's etcd is left running, whatever failed.
            if (!etcd.IsRunning) await etcd.RestartAsync();
            await host.StopAsync();
        }
    }

    /// <summary>
    /// Asks the health service until the registry's entry has <paramref name="status"/> and
    /// <paramref name="description"/>, for at most the patience.
    /// </summary>
    private static Task<HealthReportEntry> UntilAsync(HealthCheckService health, HealthStatus status, string description) =>
        UntilAsync(health, status, d => d == description, description);

    /// <summary>
    /// Asks the health service until the registry's entry has <paramref name="status"/> and a description that
    /// <paramref name="matches"/> (<paramref name="expected"/> says how), for at most the patience.
    /// </summary>
    private static async Task<HealthReportEntry> UntilAsync(HealthCheckService health, HealthStatus status, Func<string, bool> matches, string expected)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var entry = (await health.CheckHealthAsync()).Entries["registry"];
            if (entry.Status == status && entry.Description is { } description && matches(description)) return entry;
            if (clock.Elapsed > Patience)
                Assert.Fail($"still {entry.Status} ({entry.Description}) after {Patience.TotalSeconds:0} s; expected {status} ({expected})");
            await Task.Delay(TimeSpan.FromMilliseconds(50));
        }
    }
}
