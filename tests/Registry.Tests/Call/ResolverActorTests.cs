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

    [Fact]
    public void A_re_listing_that_replaced_every_instance_never_hands_the_channel_an_empty_result()
    {
        var discovery = CreateTestProbe();
        var results = CreateTestProbe();
        var resolver = Sys.ActorOf(ResolverActor.Props("user", discovery.Ref, r => results.Ref.Tell(r)));
        discovery.ExpectMsg<SubscribeMembership>(Wait);
        var a = Balancers.Instance("a", address: "10.0.0.1:8080");
        var b = Balancers.Instance("b", address: "10.0.0.2:8080");
        resolver.Tell(new MembershipSnapshot("user", [a], 10, false), discovery.Ref);
        Assert.Equal(["10.0.0.1:8080"], Addresses(results.ExpectMsg<ResolverResult>(Wait)));

        // As the watcher reports a re-listing: the new instances first, then those gone. Taken together or one by one,
        // the channel holds an instance throughout.
        resolver.Tell(new InstanceUp("user", b, 20), discovery.Ref);
        resolver.Tell(new InstanceDown("user", a, 20), discovery.Ref);

        results.FishForMessage<ResolverResult>(r =>
        {
            Assert.NotNull(r.Addresses);
            return Addresses(r).SequenceEqual(["10.0.0.2:8080"]);
        }, Wait);
        // The channel asking again gets the same result.
        resolver.Tell(ResolverActor.Refresh.Instance);
        Assert.Equal(["10.0.0.2:8080"], Addresses(results.ExpectMsg<ResolverResult>(Wait)));
        resolver.Tell(new InstanceDown("user", b, 30), discovery.Ref);
        Assert.Equal(Grpc.Core.StatusCode.Unavailable, results.ExpectMsg<ResolverResult>(Wait).Status.StatusCode);
    }

    [Fact]
    public void Changes_in_the_mailbox_together_reach_the_channel_as_one_result()
    {
        var discovery = CreateTestProbe();
        var results = CreateTestProbe();
        // The listener holds the actor in its first delivery while the changes gather in its mailbox.
        using var gate = new ManualResetEventSlim();
        var resolver = Sys.ActorOf(ResolverActor.Props("user", discovery.Ref, r =>
        {
            results.Ref.Tell(r);
            gate.Wait(Wait);
        }));
        discovery.ExpectMsg<SubscribeMembership>(Wait);
        resolver.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.1:8080")], 10, false), discovery.Ref);
        Assert.Equal(["10.0.0.1:8080"], Addresses(results.ExpectMsg<ResolverResult>(Wait)));

        foreach (var n in new[] { 2, 3, 4 })
            resolver.Tell(new InstanceUp("user", Balancers.Instance($"i{n}", address: $"10.0.0.{n}:8080"), 20), discovery.Ref);
        gate.Set();

        Assert.Equal(["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"], Addresses(results.ExpectMsg<ResolverResult>(Wait)));
    }

    private static IEnumerable<string> Addresses(ResolverResult result) =>
        result.Addresses is { } addresses ? addresses.Select(a => $"{a.EndPoint.Host}:{a.EndPoint.Port}") : [$"failure: {result.Status}"];
}
