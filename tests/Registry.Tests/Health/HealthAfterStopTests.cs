using Akka.Actor;
using Akka.Configuration;
using Registry.Etcd;
using Registry.Health;
using Registry.Tests.Fakes;
using Registry.Tests.Registration;

namespace Registry.Tests.Health;

/// <summary>
/// A registration that ends in an unusual order (a refused Register between a conflict and its Deregister, an actor
/// that dies while deregistering) leaves the health state, as one that ends plainly does.
/// </summary>
public sealed class HealthAfterStopTests : Akka.TestKit.Xunit2.TestKit
{
    // A crashed registration waits for its restart: its Deregister is then the supervisor's own.
    private static readonly Config SlowRestart = ConfigurationFactory.ParseString("registry.restart { min-backoff = 30s, max-backoff = 30s }")
        .WithFallback(RegistrationSimulationTests.Fast);
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private const string KeyX = "/services/user/127.0.0.1:8080";
    private readonly FakeRegistryStore _etcd = new();
    private readonly Akka.TestKit.TestProbe _events;
    private readonly IActorRef _registry;

    public HealthAfterStopTests() : base(SlowRestart)
    {
        _events = CreateTestProbe();
        Sys.EventStream.Subscribe(_events, typeof(RegistrationEvent));
        // As ServiceRegistry does, before its supervisor.
        RegistryHealth.Get(Sys);
        _registry = Sys.ActorOf(RegistrySupervisor.Props(_etcd, RegistrySettings.From(SlowRestart)));
    }

    private static ServiceInstance User(string address = "127.0.0.1:8080") => ServiceInstance.Create("user", address);

    private Registered RegisterAndAwait(ServiceInstance instance)
    {
        _registry.Tell(new Register(instance), TestActor);
        return ExpectMsg<Registered>(Wait);
    }

    /// <summary>The supervisor's child for <paramref name="address"/>, named after its key and incarnation.</summary>
    private Task<IActorRef> ChildAsync(string address) =>
        Sys.ActorSelection(_registry.Path / $"{Uri.EscapeDataString($"/services/user/{address}")}-*").ResolveOne(Wait);

    private static RegistrationHealthSnapshot Health(ActorSystem system) => RegistryHealth.Get(system).Registrations;

    [Fact]
    public async Task A_conflicted_registration_deregistered_after_a_refused_register_leaves_the_health_state()
    {
        RegisterAndAwait(User());
        RegisterAndAwait(User("127.0.0.1:8081"));
        var childX = await ChildAsync("127.0.0.1:8080");
        var childA = await ChildAsync("127.0.0.1:8081");
        Watch(childA);
        childA.Tell(Kill.Instance);
        ExpectTerminated(childA, Wait);

        // The supervisor revokes the crashed A's lease itself: blocked there, it lets X's stop and a Register queue up.
        using var entered = new ManualResetEventSlim();
        using var release = new ManualResetEventSlim();
        var revokes = 0;
        _etcd.BeforeCall = op =>
        {
            if (op == StoreOperation.RevokeLease && Interlocked.Increment(ref revokes) == 1)
            {
                entered.Set();
                release.Wait();
            }
            return Task.CompletedTask;
        };
        var deregisterA = CreateTestProbe();
        _registry.Tell(new Deregister("user", "127.0.0.1:8081"), deregisterA.Ref);
        Assert.True(entered.Wait(Wait));

        Watch(childX);
        var newer = _etcd.Connect();
        var lease = await newer.GrantLeaseAsync(30, CancellationToken.None);
        await newer.PutAsync(KeyX, InstanceCodec.Encode(User()), lease.LeaseId, PutCondition.Always, CancellationToken.None);
        _events.FishForMessage<RegistrationEvent>(e => e.Kind == RegistrationEventKind.Conflict && e.Key == KeyX, Wait);
        AwaitAssert(() => Assert.Equal(RegistrationState.Conflict, Health(Sys).Registrations[KeyX]), Wait);
        ExpectTerminated(childX, Wait);
        // Queued after X's Stopping and before its Terminated: refused for the conflict, as X is still stopping for it.
        _registry.Tell(new Register(User()), TestActor);
        release.Set();
        Assert.Equal(RegistrationFailure.Conflict, ExpectMsg<RegistrationFailed>(Wait).Kind);
        deregisterA.ExpectMsg<Deregistered>(Wait);

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);
        ExpectMsg<Deregistered>(Wait);

        AwaitAssert(() => Assert.Empty(Health(Sys).Registrations), Wait);
    }

    [Fact]
    public async Task A_registration_whose_actor_dies_while_deregistering_is_revoked_and_leaves_the_health_state()
    {
        var registered = RegisterAndAwait(User());
        AwaitAssert(() => Assert.Equal(RegistrationState.Held, Health(Sys).Registrations[KeyX]), Wait);
        var child = await ChildAsync("127.0.0.1:8080");
        var revoke = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _etcd.BeforeCall = op => op == StoreOperation.RevokeLease ? revoke.Task : Task.CompletedTask;

        _registry.Tell(new Deregister("user", "127.0.0.1:8080"), TestActor);
        AwaitCondition(() => _etcd.Calls(StoreOperation.RevokeLease) == 1, Wait);
        Watch(child);
        child.Tell(Kill.Instance);
        ExpectTerminated(child, Wait);
        revoke.SetResult();
        ExpectMsg<Deregistered>(Wait);

        AwaitAssert(() => Assert.Empty(Health(Sys).Registrations), Wait);
        Assert.DoesNotContain(registered.LeaseId, _etcd.LiveLeases);
        Assert.Null(_etcd.Peek(KeyX));
    }
}
