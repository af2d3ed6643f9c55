using Akka.Actor;
using Grpc.Net.Client.Balancer;
using Registry.Tests.Balancing;

namespace Registry.Tests.Call;

/// <summary>The actor behind the <c>registry:///</c> resolver, against a probe that plays the discovery actor.</summary>
public sealed class ResolverActorTests() : Akka.TestKit.Xunit2.TestKit("akka.loglevel = WARNING")
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    [Fact]
    public void Subscribes_again_when_the_discovery_actor_fails_on_the_subscription()
    {
        var discovery = CreateTestProbe();
        var results = CreateTestProbe();
        var resolver = Sys.ActorOf(ResolverActor.Props("user", discovery.Ref, r => results.Ref.Tell(r)));
        discovery.ExpectMsg<SubscribeMembership>(Wait);

        EventFilter.Error(contains: "failed on the subscription; subscribing again in").ExpectOne(() =>
            discovery.Reply(new Status.Failure(new InvalidOperationException("a bug in the discovery actor"))));

        Assert.Equal("user", discovery.ExpectMsg<SubscribeMembership>(Wait).Service);
        Assert.Equal(resolver, discovery.LastSender);
        resolver.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.1:8080")], 10, false), discovery.Ref);
        var result = results.ExpectMsg<ResolverResult>(Wait);
        Assert.Equal(["10.0.0.1:8080"], result.Addresses!.Select(a => $"{a.EndPoint.Host}:{a.EndPoint.Port}"));
    }
}
