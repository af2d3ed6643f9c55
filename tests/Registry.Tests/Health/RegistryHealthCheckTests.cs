using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using Registry.Etcd;
using Registry.Health;
using Registry.Hosting;
using Registry.Tests.Fakes;
using Registry.Tests.Registration;

namespace Registry.Tests.Health;

/// <summary>
/// The registry's health check, through <c>AddHealthChecks().AddServiceRegistry()</c> and <see cref="HealthCheckService"/>,
/// while registrations against the fake store go through the faults of the fault model.
/// </summary>
public sealed class RegistryHealthCheckTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private const string Key = "/services/user/127.0.0.1:8080";
    private readonly FakeRegistryStore _etcd = new();
    private readonly IActorRef _registry;
    private readonly ServiceProvider _services;
    private readonly HealthCheckService _health;

    public RegistryHealthCheckTests() : base(RegistrationSimulationTests.Fast)
    {
        _services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(Sys)
            .AddHealthChecks().AddServiceRegistry(tags: ["ready"]).Services
            .BuildServiceProvider();
        _health = _services.GetRequiredService<HealthCheckService>();
        // As ServiceRegistry does before it starts its supervisor: the tracker hears every event of the registrations.
        RegistryHealth.Get(Sys);
        _registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(RegistrationSimulationTests.Fast)));
    }

    protected override void AfterAll()
    {
        _services.Dispose();
        base.AfterAll();
    }

    private static ServiceInstance User(string address = "127.0.0.1:8080") => ServiceInstance.Create("user", address);

    private Registered RegisterAndAwait(ServiceInstance instance)
    {
        _registry.Tell(new Register(instance), TestActor);
        return ExpectMsg<Registered>(Wait);
    }

    /// <summary>The check's entry once it says <paramref name="description"/> with <paramref name="status"/>, polled without a fixed sleep.</summary>
    private Task<HealthReportEntry> AwaitHealthAsync(HealthStatus status, string description) => AwaitHealthAsync(_health, "registry", status, description);

    private async Task<HealthReportEntry> AwaitHealthAsync(HealthCheckService health, string name, HealthStatus status, string description)
    {
        HealthReportEntry entry = default;
        await AwaitAssertAsync(async () =>
        {
            entry = (await health.CheckHealthAsync()).Entries[name];
            Assert.Equal((status, description), (entry.Status, entry.Description));
        }, Wait);
        return entry;
    }

    [Fact]
    public async Task The_check_is_registered_under_its_name_with_its_tags_and_is_healthy_without_registrations()
    {
        var registration = Assert.Single(_services.GetRequiredService<IOptions<HealthCheckServiceOptions>>().Value.Registrations);
        Assert.Equal("registry", registration.Name);
        Assert.Equal(["ready"], registration.Tags);
        Assert.Equal(HealthStatus.Unhealthy, registration.FailureStatus);

        var entry = (await _health.CheckHealthAsync()).Entries["registry"];

        Assert.Equal(HealthStatus.Healthy, entry.Status);
        Assert.Equal("no registrations", entry.Description);
        Assert.Empty(entry.Data);
    }

    [Fact]
    public async Task Healthy_while_held_degraded_while_renewals_fail_and_healthy_again_once_they_recover()
    {
        RegisterAndAwait(User());
        Assert.Equal("held", (await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held")).Data[Key]);

        _etcd.FailKeepAlives();
        var failing = await AwaitHealthAsync(HealthStatus.Degraded, $"renewals failing: {Key}");
        Assert.Equal("renew-failing", failing.Data[Key]);

        _etcd.Heal();
        Assert.Equal("held", (await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held")).Data[Key]);
    }

    [Fact]
    public async Task Degraded_while_a_registration_waits_for_etcd_at_start()
    {
        _etcd.MakeUnavailable();
        _registry.Tell(new Register(User()), TestActor);

        var waiting = await AwaitHealthAsync(HealthStatus.Degraded, $"waiting for etcd to register: {Key}");
        Assert.Equal("delayed", waiting.Data[Key]);

        _etcd.Heal();
        ExpectMsg<Registered>(Wait);
        await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held");
    }

    [Fact]
    public async Task Degraded_while_a_lost_lease_is_replaced()
    {
        var registered = RegisterAndAwait(User());
        await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held");
        // The new lease's grant is held on the wire, so the registration stays between lease lost and re-registered.
        var grant = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _etcd.AfterCall = operation => operation == StoreOperation.GrantLease ? grant.Task : Task.CompletedTask;

        Assert.True(_etcd.ExpireLease(registered.LeaseId));
        var lost = await AwaitHealthAsync(HealthStatus.Degraded, $"lease lost, registering again: {Key}");
        Assert.Equal("lease-lost", lost.Data[Key]);

        grant.SetResult();
        await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held");
    }

    [Fact]
    public async Task Degraded_while_a_crashed_registration_waits_to_re_attach()
    {
        RegisterAndAwait(User());
        await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held");
        var child = await Sys.ActorSelection(_registry.Path / "*").ResolveOne(Wait);
        // The restarted actor's read of its key is held on the wire, so it stays between its crash and its re-attach.
        var read = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _etcd.AfterCall = operation => operation == StoreOperation.Get ? read.Task : Task.CompletedTask;
        Watch(child);

        child.Tell(Kill.Instance);
        ExpectTerminated(child, Wait);
        var restarting = await AwaitHealthAsync(HealthStatus.Degraded, $"crashed, restarting: {Key}");
        Assert.Equal("restarting", restarting.Data[Key]);

        read.SetResult();
        await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held");
    }

    [Fact]
    public async Task Unhealthy_once_a_newer_process_takes_the_id_and_healthy_again_once_it_is_deregistered()
    {
        RegisterAndAwait(User());
        RegisterAndAwait(User("127.0.0.1:8081"));
        await AwaitHealthAsync(HealthStatus.Healthy, "2 registrations held");

        await TakeOverAsync(User());
        var conflict = await AwaitHealthAsync(HealthStatus.Unhealthy, $"conflict, a newer process took the id: {Key}; 1 held");
        Assert.Equal("conflict", conflict.Data[Key]);
        Assert.Equal("held", conflict.Data["/services/user/127.0.0.1:8081"]);

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);
        ExpectMsg<Deregistered>(Wait);
        var after = await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held");
        Assert.False(after.Data.ContainsKey(Key));
    }

    [Fact]
    public async Task A_registration_stopped_by_a_conflict_and_registered_again_is_healthy()
    {
        RegisterAndAwait(User());
        await TakeOverAsync(User());
        await AwaitHealthAsync(HealthStatus.Unhealthy, $"conflict, a newer process took the id: {Key}");

        RegisterAndAwait(User());

        Assert.Equal("held", (await AwaitHealthAsync(HealthStatus.Healthy, "1 registration held")).Data[Key]);
    }

    [Fact]
    public async Task A_conflict_reports_the_failure_status_asked_for()
    {
        await using var services = new ServiceCollection()
            .AddLogging()
            .AddSingleton(Sys)
            .AddHealthChecks().AddServiceRegistry("etcd-registrations", HealthStatus.Degraded).Services
            .BuildServiceProvider();
        var health = services.GetRequiredService<HealthCheckService>();
        RegisterAndAwait(User());

        await TakeOverAsync(User());

        await AwaitHealthAsync(health, "etcd-registrations", HealthStatus.Degraded, $"conflict, a newer process took the id: {Key}");
    }

    /// <summary>Another process registers the same id: the key bound to its own lease, as its registration writes it.</summary>
    private async Task TakeOverAsync(ServiceInstance instance)
    {
        var newer = _etcd.Connect();
        var lease = await newer.GrantLeaseAsync(30, CancellationToken.None);
        var key = InstanceCodec.Key("/services/", instance.Service, instance.Id);
        Assert.True((await newer.PutAsync(key, InstanceCodec.Encode(instance), lease.LeaseId, PutCondition.Always, CancellationToken.None)).Succeeded);
    }
}
