using Akka.Actor;
using Akka.TestKit;
using Registry.Tests.Fakes;

namespace Registry.Tests.Registration;

/// <summary>
/// What the registry supervisor answers to the requests it gets, malformed, repeated or overlapping, against the fake
/// store: every requester gets an answer that holds, and no request disturbs the other registrations.
/// </summary>
public sealed class RegistrationRequestTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly IActorRef _registry;

    public RegistrationRequestTests() : base(RegistrationSimulationTests.Fast) =>
        _registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(RegistrationSimulationTests.Fast)));

    private static ServiceInstance User() => ServiceInstance.Create("user", "127.0.0.1:8080");

    private Registered RegisterAndAwait(ServiceInstance instance)
    {
        _registry.Tell(new Register(instance), TestActor);
        return ExpectMsg<Registered>(Wait);
    }

    [Fact]
    public void A_register_without_an_instance_is_refused_and_the_other_registrations_go_on()
    {
        var registered = RegisterAndAwait(User());

        _registry.Tell(new Register(null!), TestActor);

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Invalid, failed.Kind);
        Assert.Equal("instance: must not be null", failed.Reason);
        AssertRenewedThenRevokedOnDeregistration(registered);
    }

    [Fact]
    public void A_register_with_a_ttl_below_the_call_timeout_is_refused_naming_both()
    {
        var settings = RegistrySettings.From(Akka.Configuration.ConfigurationFactory.ParseString("registry.etcd.call-timeout = 2500ms")
            .WithFallback(RegistrationSimulationTests.Fast));
        var registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, settings));

        registry.Tell(new Register(User(), TtlSeconds: 2), TestActor);

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Invalid, failed.Kind);
        Assert.Equal("ttl 2: below registry.etcd.call-timeout (2.5s), which a keep-alive stream stuck would outlast", failed.Reason);
        Assert.Equal(0, _etcd.Calls(StoreOperation.GrantLease));
        registry.Tell(new Register(User(), TtlSeconds: 3), TestActor);
        ExpectMsg<Registered>(Wait);
    }

    [Theory]
    [InlineData(null, "127.0.0.1:8080", "service '': expected")]
    [InlineData("user", null, "id '': expected")]
    [InlineData("user", "10.0.0.1/8080", "id '10.0.0.1/8080': expected")]
    public void A_deregister_naming_an_impossible_instance_is_refused_naming_what_is_wrong(string? service, string? id, string problem)
    {
        var registered = RegisterAndAwait(User());

        _registry.Tell(new Deregister(service!, id!), TestActor);

        var failure = ExpectMsg<Status.Failure>(Wait);
        Assert.StartsWith(problem, Assert.IsType<ArgumentException>(failure.Cause).Message);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
        AssertRenewedThenRevokedOnDeregistration(registered);
    }

    /// <summary>The registration goes on after a refused request: its lease is renewed, and revoked on deregistration.</summary>
    private void AssertRenewedThenRevokedOnDeregistration(Registered registered)
    {
        var renewals = _etcd.Calls(StoreOperation.KeepAlive);
        AwaitCondition(() => _etcd.Calls(StoreOperation.KeepAlive) > renewals, Wait);
        _registry.Tell(new Deregister(registered.Instance.Service, registered.Instance.Id), TestActor);
        ExpectMsg<Deregistered>(Wait);
        Assert.Null(_etcd.Peek(registered.Key));
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
    }

    [Fact]
    public void A_register_right_after_deregistered_is_answered_is_accepted()
    {
        for (var round = 0; round < 100; round++)
        {
            RegisterAndAwait(User());
            _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);
            ExpectMsg<Deregistered>(Wait);

            _registry.Tell(new Register(User()), TestActor);

            var reply = ExpectMsg<object>(Wait);
            Assert.True(reply is Registered, $"round {round}: {reply}");
            _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);
            ExpectMsg<Deregistered>(Wait);
        }
    }

    [Fact]
    public void A_register_sent_the_moment_deregistered_arrives_is_accepted()
    {
        // On the calling thread, the supervisor handles the old actor's answer before that actor stops, and the
        // requester registers again while the supervisor answers it: no delivery order can hide the refusal.
        var registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(RegistrationSimulationTests.Fast)).WithDispatcher(CallingThreadDispatcher.Id));
        var requester = Sys.ActorOf(Props.Create(() => new RegistersAgainOnDeregistered(registry, TestActor)).WithDispatcher(CallingThreadDispatcher.Id));
        registry.Tell(new Register(User()), requester);
        var old = ExpectMsg<Registered>(Wait);

        registry.Tell(new Deregister("user", "127.0.0.1:8080"), requester);

        ExpectMsg<Deregistered>(Wait);
        var again = ExpectMsg<object>(Wait);
        var registered = Assert.IsType<Registered>(again);
        Assert.NotEqual(old.LeaseId, registered.LeaseId);
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public void A_registration_made_again_keeps_its_key_when_the_old_lease_goes_later()
    {
        var old = RegisterAndAwait(User());
        // The revoke fails: the old lease outlives the deregistration, as does a revoke that etcd applies late.
        _etcd.MakeUnavailable();
        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);
        ExpectMsg<Deregistered>(Wait);
        _etcd.Heal();

        _registry.Tell(new Register(User()), TestActor);
        var again = ExpectMsg<object>(Wait);

        var registered = Assert.IsType<Registered>(again);
        Assert.NotEqual(old.LeaseId, registered.LeaseId);
        Assert.True(_etcd.ExpireLease(old.LeaseId));
        Assert.Equal(registered.LeaseId, _etcd.Peek(registered.Key)?.LeaseId);
    }

    [Fact]
    public async Task Registering_the_same_address_again_writes_nothing_and_answers_the_registration_held()
    {
        var registeredAt = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        var first = RegisterAndAwait(User() with { RegisteredAt = registeredAt });
        var revision = _etcd.Revision;
        var puts = _etcd.Calls(StoreOperation.Put);

        // ServiceInstance.Create stamps the time of the call: a repeated Register differs only in RegisteredAt.
        var again = RegisterAndAwait(User() with { RegisteredAt = registeredAt.AddSeconds(1) });

        Assert.Equal(puts, _etcd.Calls(StoreOperation.Put));
        Assert.Equal(revision, _etcd.Revision);
        Assert.Equal(first, again);
        // The registration restarted after a crash holds the same value still: it re-attaches without a write.
        var child = await Sys.ActorSelection(_registry.Path / "*").ResolveOne(Wait);
        Watch(child);
        child.Tell(Kill.Instance);
        ExpectTerminated(child, Wait);
        Assert.Equal(first, RegisterAndAwait(User() with { RegisteredAt = registeredAt.AddSeconds(2) }));
        Assert.Equal(revision, _etcd.Revision);
    }

    [Fact]
    public void An_update_is_not_answered_with_the_old_value()
    {
        var current = RegisterAndAwait(User()).Instance;
        var updated = current with { Weight = 5 };
        var first = CreateTestProbe();
        var second = CreateTestProbe();

        _registry.Tell(new Register(current), first);
        _registry.Tell(new Register(updated), second);

        Assert.Equal(current, first.ExpectMsg<Registered>(Wait).Instance);
        Assert.Equal(updated, second.ExpectMsg<Registered>(Wait).Instance);
        Assert.Equal(updated, InstanceCodec.Decode(_etcd.Peek(InstanceCodec.Key("/services/", "user", "127.0.0.1:8080"))!.Value));
    }

    [Fact]
    public void Registers_ended_by_a_deregistration_are_each_failed_naming_the_instance_they_asked_for()
    {
        // etcd down: neither value is written before the deregistration ends the registration.
        _etcd.MakeUnavailable();
        var asked = User();
        var updated = asked with { Weight = 5 };
        var first = CreateTestProbe();
        var second = CreateTestProbe();
        _registry.Tell(new Register(asked), first);
        _registry.Tell(new Register(updated), second);

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);

        ExpectMsg<Deregistered>(Wait);
        Assert.Equal(asked, first.ExpectMsg<RegistrationFailed>(Wait).Instance);
        Assert.Equal(updated, second.ExpectMsg<RegistrationFailed>(Wait).Instance);
    }

    /// <summary>Reports every answer to <paramref name="reportTo"/>, and registers the instance again on hearing it deregistered.</summary>
    private sealed class RegistersAgainOnDeregistered : ReceiveActor
    {
        public RegistersAgainOnDeregistered(IActorRef registry, IActorRef reportTo)
        {
            Receive<Deregistered>(d =>
            {
                reportTo.Tell(d);
                registry.Tell(new Register(User()));
            });
            ReceiveAny(reportTo.Tell);
        }
    }

    [Fact]
    public async Task A_restart_after_overlapping_updates_re_attaches_without_a_write()
    {
        var t0 = new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero);
        ServiceInstance Weighted(int weight, int second) => User() with { Weight = weight, RegisteredAt = t0.AddSeconds(second) };
        RegisterAndAwait(Weighted(1, 0));

        // The write of an update (weight 2) is held in flight while another update (3), then 2 again with a later
        // RegisteredAt, arrive: the key ends up with the first 2, the supervisor holding the second.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _etcd.BeforeCall = op => op == StoreOperation.Put ? held.Task : Task.CompletedTask;
        var first = CreateTestProbe();
        var other = CreateTestProbe();
        var again = CreateTestProbe();
        _registry.Tell(new Register(Weighted(2, 1)), first.Ref);
        AwaitCondition(() => _etcd.Calls(StoreOperation.Put) == 2, Wait);
        _registry.Tell(new Register(Weighted(3, 2)), other.Ref);
        _registry.Tell(new Register(Weighted(2, 3)), again.Ref);
        // Answered by the supervisor itself, after it forwarded both Registers above.
        _registry.Tell(new Deregister("other", "x"), TestActor);
        ExpectMsg<Deregistered>(Wait);
        _etcd.BeforeCall = null;
        held.SetResult();
        var key = again.ExpectMsg<Registered>(Wait).Key;
        first.ExpectMsg<Registered>(Wait);
        other.ExpectMsg<Registered>(Wait);
        Assert.Equal(Weighted(2, 1), InstanceCodec.Decode(_etcd.Peek(key)!.Value));
        var revision = _etcd.Revision;

        var child = await Sys.ActorSelection(_registry.Path / "*").ResolveOne(Wait);
        Watch(child);
        child.Tell(Kill.Instance);
        ExpectTerminated(child, Wait);
        var restarted = RegisterAndAwait(Weighted(2, 4));

        Assert.Equal(revision, _etcd.Revision);
        Assert.Equal(Weighted(2, 1), restarted.Instance);
    }
}
