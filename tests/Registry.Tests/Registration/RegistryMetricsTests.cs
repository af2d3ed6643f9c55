using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Akka.Actor;
using Registry.Discovery;
using Registry.Tests.Fakes;

namespace Registry.Tests.Registration;

/// <summary>The <c>Registry</c> meter's counts of registration events and of views turning stale, per service.</summary>
public sealed class RegistryMetricsTests : Akka.TestKit.Xunit2.TestKit, IDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly RegistrySettings _settings = RegistrySettings.From(RegistrationSimulationTests.Fast);
    // The meter is process-wide and tests run in parallel: each test counts only its own service.
    private readonly string _service = $"metrics-{Guid.NewGuid():N}"[..20];
    private readonly ConcurrentDictionary<(string Instrument, string? Kind), long> _counted = new();
    private readonly MeterListener _listener = new();

    public RegistryMetricsTests() : base(RegistrationSimulationTests.Fast)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == RegistryMetrics.MeterName) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            string? service = null, kind = null;
            foreach (var tag in tags)
            {
                if (tag.Key == "service") service = tag.Value as string;
                else if (tag.Key == "kind") kind = tag.Value as string;
            }
            if (service == _service) _counted.AddOrUpdate((instrument.Name, kind), value, (_, total) => total + value);
        });
        _listener.Start();
    }

    private long Counted(string instrument, string? kind = null) => _counted.GetValueOrDefault((instrument, kind));

    [Fact]
    public void Registration_events_are_counted_by_kind()
    {
        var registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, _settings));
        var instance = ServiceInstance.Create(_service, "127.0.0.1:8080");
        registry.Tell(new Register(instance), TestActor);
        var registered = ExpectMsg<Registered>(Wait);

        _etcd.ExpireLease(registered.LeaseId);
        AwaitAssert(() => Assert.Equal(1, Counted("registry.registration.events", "reregistered")), Wait);
        registry.Tell(new Deregister(instance.Service, instance.Id), TestActor);
        ExpectMsg<Deregistered>(Wait);

        Assert.Equal(1, Counted("registry.registration.events", "registered"));
        Assert.Equal(1, Counted("registry.registration.events", "lease-lost"));
        AwaitAssert(() => Assert.Equal(1, Counted("registry.registration.events", "deregistered")), Wait);
    }

    [Fact]
    public async Task A_view_turning_stale_is_counted_once_per_outage()
    {
        var discovery = Sys.ActorOf(DiscoverySupervisor.Props(_etcd, _settings));
        discovery.Tell(new SubscribeMembership(_service), TestActor);
        ExpectMsg<MembershipSnapshot>(Wait);

        _etcd.MakeUnavailable();
        FishForMessage<MembershipStale>(s => s.Stale, Wait);
        // More failed listings within the same outage: each must not count again.
        var listings = _etcd.Calls(StoreOperation.List);
        AwaitCondition(() => _etcd.Calls(StoreOperation.List) >= listings + 3, Wait);
        _etcd.Heal();
        // The view is live again once the watcher has listed again and its new watch is created; a change shows it too.
        var instance = ServiceInstance.Create(_service, "127.0.0.1:8080");
        await _etcd.PutAsync(InstanceCodec.Key(_settings.Prefix, _service, instance.Id), InstanceCodec.Encode(instance), 0, Registry.Etcd.PutCondition.Always, default);
        FishForMessage<MembershipStale>(s => !s.Stale, Wait);

        Assert.Equal(1, Counted("registry.discovery.stale_views"));
    }

    void IDisposable.Dispose()
    {
        _listener.Dispose();
        base.Dispose();
    }
}
