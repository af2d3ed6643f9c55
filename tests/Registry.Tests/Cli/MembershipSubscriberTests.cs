using System.Collections.Immutable;
using Akka.Actor;
using Registry.Host.Cli;

namespace Registry.Tests.Cli;

/// <summary>The CLI's subscriber against a probe that plays the discovery actor.</summary>
public sealed class MembershipSubscriberTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private sealed record Waiting(string? Reason);

    private (IActorRef Subscriber, Akka.TestKit.TestProbe Discovery) Start()
    {
        var discovery = CreateTestProbe();
        var self = TestActor;
        var subscriber = Sys.ActorOf(MembershipSubscriber.Props(discovery.Ref, "user",
            waiting: reason => self.Tell(new Waiting(reason)),
            received: e => self.Tell(e),
            refused: e => self.Tell(e)));
        discovery.ExpectMsg<SubscribeMembership>(Wait);
        return (subscriber, discovery);
    }

    [Fact]
    public void Waiting_told_before_any_failure_is_told_again_with_the_first_reason()
    {
        var (subscriber, discovery) = Start();
        Assert.Null(ExpectMsg<Waiting>(Wait).Reason);

        subscriber.Tell(new MembershipStale("user", true, "listing failed: SSL", 0), discovery.Ref);
        subscriber.Tell(new MembershipStale("user", true, "listing failed: again", 0), discovery.Ref);

        Assert.Equal("listing failed: SSL", ExpectMsg<Waiting>(Wait).Reason);
        ExpectMsg<MembershipStale>(Wait);
        // Once: the next reason is received, not told.
        Assert.Equal("listing failed: again", ExpectMsg<MembershipStale>(Wait).Reason);
    }

    [Fact]
    public void A_reason_after_the_first_snapshot_is_no_wait_for_etcd()
    {
        var (subscriber, discovery) = Start();
        Assert.Null(ExpectMsg<Waiting>(Wait).Reason);

        subscriber.Tell(new MembershipSnapshot("user", ImmutableArray<ServiceInstance>.Empty, 5, false), discovery.Ref);
        subscriber.Tell(new MembershipStale("user", true, "watch broken", 5), discovery.Ref);

        ExpectMsg<MembershipSnapshot>(Wait);
        // Told before it is received, were it told: the next message is the event itself.
        Assert.Equal("watch broken", ExpectMsg<MembershipStale>(Wait).Reason);
    }
}
