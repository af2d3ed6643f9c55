using Akka.Actor;
using Akka.TestKit;
using Grpc.Net.Client.Balancer;
using Registry.Tests.Balancing;

namespace Registry.Tests.Call;

/// <summary>The actor behind the <c>registry:///</c> resolver, against a probe that plays the discovery actor.</summary>
public sealed class ResolverActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly TestProbe _discovery;
    private readonly TestProbe _results;

    public ResolverActorTests() : base("akka.loglevel = WARNING")
    {
        _discovery = CreateTestProbe();
        _results = CreateTestProbe();
    }

    /// <summary>A resolver whose channel is the results probe, after <paramref name="then"/>; subscribed at the discovery probe.</summary>
    private IActorRef Start(Action? then = null)
    {
        var resolver = Sys.ActorOf(ResolverActor.Props("user", _discovery.Ref, r =>
        {
            _results.Ref.Tell(r);
            then?.Invoke();
        }));
        _discovery.ExpectMsg<SubscribeMembership>(Wait);
        return resolver;
    }

    [Fact]
    public void Subscribes_again_when_the_discovery_actor_fails_on_the_subscription()
    {
        var resolver = Start();

        EventFilter.Error(contains: "failed on the subscription; subscribing again in").ExpectOne(() =>
            _discovery.Reply(new Status.Failure(new InvalidOperationException("a bug in the discovery actor"))));

        Assert.Equal("user", _discovery.ExpectMsg<SubscribeMembership>(Wait).Service);
        Assert.Equal(resolver, _discovery.LastSender);
        // Meanwhile the channel was told the membership is not known, so its calls end rather than wait.
        Assert.Equal(Grpc.Core.StatusCode.Unavailable, _results.ExpectMsg<ResolverResult>(Wait).Status.StatusCode);
        resolver.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.1:8080")], 10, false), _discovery.Ref);
        var result = _results.ExpectMsg<ResolverResult>(Wait);
        Assert.Equal(["10.0.0.1:8080"], result.Addresses!.Select(a => $"{a.EndPoint.Host}:{a.EndPoint.Port}"));
    }

    [Fact]
    public void Before_its_first_result_the_channel_is_told_unavailable_when_discovery_fails_or_stops()
    {
        // Grpc.Net.Client holds a call until the first result, whatever its deadline: each of these must end the wait.
        Start();
        EventFilter.Error(contains: "failed on the subscription").ExpectOne(() =>
            _discovery.Reply(new Status.Failure(new InvalidOperationException("a bug in the discovery actor"))));
        Assert.Contains("failed on the subscription", Unavailable(_results.ExpectMsg<ResolverResult>(Wait)));

        var second = CreateTestProbe();
        Sys.ActorOf(ResolverActor.Props("user", second.Ref, r => _results.Ref.Tell(r)));
        second.ExpectMsg<SubscribeMembership>(Wait);
        Sys.Stop(second.Ref);
        Assert.Contains("the registry's discovery stopped", Unavailable(_results.ExpectMsg<ResolverResult>(Wait)));
    }

    [Fact]
    public void A_resolver_stopped_before_its_first_result_tells_the_channel_unavailable_and_after_it_nothing()
    {
        var unknown = Start();
        Sys.Stop(unknown);
        Assert.Contains("the resolver stopped", Unavailable(_results.ExpectMsg<ResolverResult>(Wait)));

        var discovery = CreateTestProbe();
        var known = Sys.ActorOf(ResolverActor.Props("user", discovery.Ref, r => _results.Ref.Tell(r)));
        discovery.ExpectMsg<SubscribeMembership>(Wait);
        known.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.1:8080")], 10, false), discovery.Ref);
        Assert.Equal(["10.0.0.1:8080"], Addresses(_results.ExpectMsg<ResolverResult>(Wait)));
        Watch(known);
        Sys.Stop(known);
        ExpectTerminated(known, Wait);
        // The stop's own result would have been told on the actor's thread before it terminated.
        _results.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Members_taken_just_before_a_stop_reach_the_channel_rather_than_a_failure()
    {
        var resolver = Start();

        resolver.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.1:8080")], 10, false), _discovery.Ref);
        resolver.Tell(PoisonPill.Instance);

        Assert.Equal(["10.0.0.1:8080"], Addresses(_results.ExpectMsg<ResolverResult>(Wait)));
        Watch(resolver);
        ExpectTerminated(resolver, Wait);
        _results.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void A_resolver_restarted_before_its_first_result_subscribes_again_without_failing_the_channel()
    {
        var resolver = Start();

        // A malformed snapshot crashes the actor; its supervisor restarts it.
        EventFilter.Exception<NullReferenceException>().ExpectOne(() =>
            resolver.Tell(new MembershipSnapshot("user", [null!], 10, false), _discovery.Ref));
        _discovery.FishForMessage<SubscribeMembership>(_ => true, Wait);
        resolver.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.1:8080")], 11, false), _discovery.Ref);

        // The first result the channel gets is the membership.
        Assert.Equal(["10.0.0.1:8080"], Addresses(_results.ExpectMsg<ResolverResult>(Wait)));
    }

    private static string Unavailable(ResolverResult result)
    {
        Assert.Equal(Grpc.Core.StatusCode.Unavailable, result.Status.StatusCode);
        return result.Status.Detail;
    }

    [Fact]
    public void A_re_listing_that_replaced_every_instance_never_hands_the_channel_an_empty_result()
    {
        var resolver = Start();
        var a = Balancers.Instance("a", address: "10.0.0.1:8080");
        var b = Balancers.Instance("b", address: "10.0.0.2:8080");
        resolver.Tell(new MembershipSnapshot("user", [a], 10, false), _discovery.Ref);
        Assert.Equal(["10.0.0.1:8080"], Addresses(_results.ExpectMsg<ResolverResult>(Wait)));

        // As the watcher reports a re-listing: the new instances first, then those gone. Taken together or one by one,
        // the channel holds an instance throughout.
        resolver.Tell(new InstanceUp("user", b, 20), _discovery.Ref);
        resolver.Tell(new InstanceDown("user", a, 20), _discovery.Ref);

        _results.FishForMessage<ResolverResult>(r =>
        {
            Assert.NotNull(r.Addresses);
            return Addresses(r).SequenceEqual(["10.0.0.2:8080"]);
        }, Wait);
        // The channel asking again gets the same result.
        resolver.Tell(ResolverActor.Refresh.Instance);
        Assert.Equal(["10.0.0.2:8080"], Addresses(_results.ExpectMsg<ResolverResult>(Wait)));
        resolver.Tell(new InstanceDown("user", b, 30), _discovery.Ref);
        Assert.Equal(Grpc.Core.StatusCode.Unavailable, _results.ExpectMsg<ResolverResult>(Wait).Status.StatusCode);
    }

    [Fact]
    public void Changes_in_the_mailbox_together_reach_the_channel_as_one_result()
    {
        // The channel holds the actor in its first delivery while the changes gather in its mailbox.
        using var gate = new ManualResetEventSlim();
        var resolver = Start(then: () => gate.Wait(Wait));
        resolver.Tell(new MembershipSnapshot("user", [Balancers.Instance("a", address: "10.0.0.1:8080")], 10, false), _discovery.Ref);
        Assert.Equal(["10.0.0.1:8080"], Addresses(_results.ExpectMsg<ResolverResult>(Wait)));

        foreach (var n in new[] { 2, 3, 4 })
            resolver.Tell(new InstanceUp("user", Balancers.Instance($"i{n}", address: $"10.0.0.{n}:8080"), 20), _discovery.Ref);
        gate.Set();

        Assert.Equal(["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"], Addresses(_results.ExpectMsg<ResolverResult>(Wait)));
    }

    private static IEnumerable<string> Addresses(ResolverResult result) =>
        result.Addresses is { } addresses ? addresses.Select(a => $"{a.EndPoint.Host}:{a.EndPoint.Port}") : [$"failure: {result.Status}"];
}
