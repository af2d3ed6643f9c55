using System.Collections.Immutable;
using Akka.Actor;
using Registry.Tests.Fakes;

namespace Registry.Tests.Registration;

/// <summary>
/// An unexpected exception in the registry supervisor's handlers, against the fake store: it costs only the message that
/// raised it, whose requester is answered; every registration is kept (same actor, same lease, still renewed).
/// </summary>
public sealed class SupervisorFailureTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeRegistryStore _etcd = new();
    private readonly Akka.TestKit.TestProbe _events;
    private readonly IActorRef _registry;

    public SupervisorFailureTests() : base(RegistrationSimulationTests.Fast)
    {
        _events = CreateTestProbe();
        Sys.EventStream.Subscribe(_events, typeof(RegistrationEvent));
        _registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(RegistrationSimulationTests.Fast)));
    }

    private static ServiceInstance User(string address) =>
        ServiceInstance.Create("user", address) with { Metadata = ServiceInstance.EmptyMetadata.Add("zone", "a") };

    private Registered RegisterAndAwait(ServiceInstance instance)
    {
        _registry.Tell(new Register(instance), TestActor);
        return ExpectMsg<Registered>(Wait);
    }

    [Fact]
    public void A_register_the_supervisor_fails_on_is_answered_and_every_registration_is_kept()
    {
        var held = RegisterAndAwait(User("10.0.0.1:80"));
        var other = RegisterAndAwait(User("10.0.0.2:80"));
        // Comparing it with the registration held (the same one asked again?) throws inside the supervisor's handler.
        var failing = held.Instance with { Metadata = ImmutableSortedDictionary.Create<string, string>(new ThrowingComparer()).Add("zone", "a") };

        EventFilter.Error(contains: "failed on a message of type Register").ExpectOne(() => _registry.Tell(new Register(failing), TestActor));

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Error, failed.Kind);
        Assert.Contains(ThrowingComparer.Message, failed.Reason);
        AssertEveryRegistrationKept(held, other);
    }

    [Fact]
    public void A_stray_message_the_supervisor_fails_on_costs_only_that_message()
    {
        var held = RegisterAndAwait(User("10.0.0.1:80"));
        var other = RegisterAndAwait(User("10.0.0.2:80"));

        // A malformed answer, as a bug could send: looking its null key up throws inside the supervisor's handler.
        EventFilter.Error(contains: "failed on a message of type Registered").ExpectOne(() => _registry.Tell(new Registered(null!, null!, 0), TestActor));

        AssertEveryRegistrationKept(held, other);
    }

    [Fact]
    public void A_lease_actors_answer_the_supervisor_fails_on_is_answered_to_whoever_waits_for_it()
    {
        var other = RegisterAndAwait(User("10.0.0.2:80"));
        _etcd.MakeUnavailable();
        var waiting = User("10.0.0.1:80");
        _registry.Tell(new Register(waiting), TestActor);
        _events.FishForMessage<RegistrationEvent>(e => e.Kind == RegistrationEventKind.Delayed, Wait);

        // An answer for it that throws when the supervisor compares it with what was asked for, as a bug could.
        var answer = waiting with { Metadata = ImmutableSortedDictionary.Create<string, string>(new ThrowingComparer()).Add("zone", "a") };
        var key = InstanceCodec.Key(InstanceCodec.DefaultPrefix, waiting.Service, waiting.Id);
        EventFilter.Error(contains: "failed on a message of type Registered").ExpectOne(() => _registry.Tell(new Registered(answer, key, 1), TestActor));

        var failed = ExpectMsg<RegistrationFailed>(Wait);
        Assert.Equal(RegistrationFailure.Error, failed.Kind);
        Assert.Contains(ThrowingComparer.Message, failed.Reason);
        _etcd.Heal();
        Assert.Equal(other.LeaseId, RegisterAndAwait(other.Instance).LeaseId);
    }

    /// <summary>
    /// The supervisor still holds both registrations (asked again, the same lease answers, nothing is granted), their
    /// leases outlive the TTL, nothing was revoked, new requests are served, and the shutdown's deregistration revokes
    /// every lease.
    /// </summary>
    private void AssertEveryRegistrationKept(Registered held, Registered other)
    {
        Assert.Equal(held.LeaseId, RegisterAndAwait(held.Instance).LeaseId);
        Assert.Equal(2, _etcd.Calls(StoreOperation.GrantLease));
        // Three times two thirds of the TTL, each time until both leases are renewed to their full TTL (3 s).
        var reader = _etcd.Connect();
        for (var round = 0; round < 3; round++)
        {
            _etcd.AdvanceTime(TimeSpan.FromSeconds(2));
            AwaitCondition(() => new[] { held, other }.All(r => reader.TimeToLiveAsync(r.LeaseId, default).Result == 3), Wait);
        }
        Assert.Equal(held.LeaseId, _etcd.Peek(held.Key)?.LeaseId);
        Assert.Equal(other.LeaseId, _etcd.Peek(other.Key)?.LeaseId);
        Assert.Equal(0, _etcd.Calls(StoreOperation.RevokeLease));

        var added = RegisterAndAwait(User("10.0.0.3:80"));
        Assert.NotNull(_etcd.Peek(added.Key));
        _registry.Tell(new Deregister("user", other.Instance.Id), TestActor);
        ExpectMsg<Deregistered>(Wait);
        Assert.Null(_etcd.Peek(other.Key));
        // The first registration to end is the one deregistered.
        Assert.Equal(other.Key, _events.FishForMessage<RegistrationEvent>(e => e.Kind == RegistrationEventKind.Deregistered, Wait).Key);
        Assert.Equal(held.LeaseId, _etcd.Peek(held.Key)?.LeaseId);

        // And the shutdown's deregistration still revokes every lease left.
        _registry.Tell(RegistrySupervisor.DeregisterAll.Instance, TestActor);
        ExpectMsg<RegistrySupervisor.AllDeregistered>(Wait);
        Assert.Null(_etcd.Peek(held.Key));
        Assert.Null(_etcd.Peek(added.Key));
        Assert.Equal(3, _etcd.Calls(StoreOperation.RevokeLease));
    }

    /// <summary>A metadata comparer that fails, standing for any bug met while the supervisor handles a message.</summary>
    private sealed class ThrowingComparer : IComparer<string>
    {
        public const string Message = "comparer failed (simulated)";

        public int Compare(string? x, string? y) => throw new InvalidOperationException(Message);
    }
}
