using Akka.Actor;
using Registry.Host.Client;
using Registry.Tests.Balancing;

namespace Registry.Tests.Call;

/// <summary>The channel pool's follower against a probe that plays the discovery actor (etcd unreachable).</summary>
public sealed class InstanceChannelsActorTests() : Akka.TestKit.Xunit2.TestKit("""
    akka.loglevel = WARNING
    registry.etcd.endpoints = ["http://127.0.0.1:1"]
    """)
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public async Task Subscribes_again_when_the_discovery_actor_fails_on_the_subscription()
    {
        var discovery = CreateTestProbe();
        await using var channels = new InstanceChannels(Sys, "user", UserCallSettings.Default);
        var follower = Sys.ActorOf(InstanceChannelsActor.Props("user", discovery.Ref, channels, TimeSpan.Zero));
        discovery.ExpectMsg<SubscribeMembership>(Wait);

        EventFilter.Error(contains: "failed on the subscription; subscribing again in").ExpectOne(() =>
            discovery.Reply(new Status.Failure(new InvalidOperationException("a bug in the discovery actor"))));

        Assert.Equal("user", discovery.ExpectMsg<SubscribeMembership>(Wait).Service);
        Assert.Equal(follower, discovery.LastSender);
        channels.Get("10.0.0.1:8080");
        channels.Get("10.0.0.2:8080");
        follower.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.2:8080")], 10, false), discovery.Ref);
        AwaitAssert(() => Assert.Equal(["10.0.0.2:8080"], channels.Addresses), Wait);
    }
}
