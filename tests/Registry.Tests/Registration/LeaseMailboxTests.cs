using Akka.Actor;
using Akka.Dispatch.MessageQueues;
using Registry.Registration;
using Registry.Tests.Fakes;

namespace Registry.Tests.Registration;

/// <summary>The LeaseActors' mailbox: used by every LeaseActor, also in a system started without ServiceRegistry.</summary>
public sealed class LeaseMailboxTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    public LeaseMailboxTests() : base(RegistrationSimulationTests.Fast)
    {
    }

    [Fact]
    public async Task A_lease_actor_runs_on_the_lease_mailbox_and_registers()
    {
        var registry = Sys.ActorOf(RegistrySupervisor.Props(new FakeRegistryStore(), RegistrySettings.From(RegistrationSimulationTests.Fast)));

        registry.Tell(new Register(ServiceInstance.Create("user", "127.0.0.1:8080")), TestActor);

        ExpectMsg<Registered>(Wait);
        var child = (LocalActorRef)await Sys.ActorSelection(registry.Path / "*").ResolveOne(Wait);
        Assert.IsType<LeaseMailbox.EnvelopeQueue>(child.Cell.Mailbox!.MessageQueue);
    }

    [Fact]
    public void The_queue_hands_out_envelopes_in_order_and_its_leftovers_to_dead_letters()
    {
        var queue = new LeaseMailbox.EnvelopeQueue();
        Assert.False(queue.HasMessages);
        for (var i = 0; i < 100; i++) queue.Enqueue(TestActor, new Envelope(i, TestActor));

        Assert.Equal(100, queue.Count);
        Assert.True(queue.TryDequeue(out var first));
        Assert.Equal(0, first.Message);
        var dead = new LeaseMailbox.EnvelopeQueue();
        queue.CleanUp(TestActor, dead);
        Assert.False(queue.HasMessages);
        Assert.Equal(99, dead.Count);
        Assert.True(dead.TryDequeue(out var next));
        Assert.Equal(1, next.Message);
    }
}
