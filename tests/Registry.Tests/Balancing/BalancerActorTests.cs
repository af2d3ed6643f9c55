using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Microsoft.Extensions.Time.Testing;
using Registry.Balancing;

namespace Registry.Tests.Balancing;

/// <summary>The BalancerActor against a probe that plays the discovery actor.</summary>
public sealed class BalancerActorTests : Akka.TestKit.Xunit2.TestKit
{
    private static readonly Config Quiet = ConfigurationFactory.ParseString("akka.loglevel = WARNING");
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);
    private readonly FakeTimeProvider _time = new();
    private readonly TestProbe _discovery;

    public BalancerActorTests() : base(Quiet) => _discovery = CreateTestProbe();

    private static ServiceInstance[] Members(params string[] ids) => Balancers.Instances(ids);

    private IActorRef Start(string policy = "round-robin")
    {
        var balancer = Sys.ActorOf(BalancerActor.Props("user", _discovery.Ref, Balancers.Exact, policy, _time));
        Assert.Equal("user", _discovery.ExpectMsg<SubscribeMembership>(Wait).Service);
        Assert.Equal(balancer, _discovery.LastSender);
        return balancer;
    }

    private void Send(IActorRef balancer, MembershipEvent e) => balancer.Tell(e, _discovery.Ref);

    private static MembershipSnapshot Snapshot(ServiceInstance[] instances, long revision = 10, bool stale = false) =>
        new("user", [.. instances], revision, stale);

    private string PickId(IActorRef balancer, string? key = null)
    {
        balancer.Tell(new Pick(key), TestActor);
        return ExpectMsg<Picked>(Wait).Instance.Id;
    }

    private string[] PickIds(IActorRef balancer, int count) => Enumerable.Range(0, count).Select(_ => PickId(balancer)).ToArray();

    private NoInstance ExpectNoInstance(IActorRef balancer)
    {
        balancer.Tell(new Pick(), TestActor);
        return ExpectMsg<NoInstance>(Wait);
    }

    private ServiceBalancer HotPath(IActorRef balancer)
    {
        balancer.Tell(GetBalancer.Instance, TestActor);
        return ExpectMsg<ServiceBalancer>(Wait);
    }

    [Fact]
    public void Subscribes_on_start_and_answers_that_the_membership_is_not_known_before_the_snapshot()
    {
        var balancer = Start();

        var none = ExpectNoInstance(balancer);

        Assert.Equal("user", none.Service);
        Assert.Equal("the membership of 'user' is not known yet", none.Reason);
    }

    [Fact]
    public async Task The_hot_path_says_when_the_membership_is_known_even_when_it_is_empty()
    {
        var balancer = Start();
        var hot = HotPath(balancer);
        var known = hot.WhenKnownAsync();

        // etcd unreachable before the first listing: still not known.
        Send(balancer, new MembershipStale("user", true, "listing failed: etcd unavailable", 0));
        Assert.Equal("the membership of 'user' is not known yet: etcd is unreachable (listing failed: etcd unavailable)", ExpectNoInstance(balancer).Reason);
        Assert.False(known.IsCompleted);
        using (var cancelled = new CancellationTokenSource())
        {
            await cancelled.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => hot.WhenKnownAsync(cancelled.Token));
        }

        Send(balancer, Snapshot([]));

        await known.WaitAsync(Wait);
        Assert.Empty(hot.Members);
        Assert.Equal("no instance of 'user' is registered", hot.UnavailableReason);
        await hot.WhenKnownAsync().WaitAsync(Wait);
    }

    [Fact]
    public async Task A_wait_for_the_membership_ends_when_the_balancer_stops_before_it_knew_it()
    {
        var balancer = Start();
        var known = HotPath(balancer).WhenKnownAsync();

        Sys.Stop(balancer);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => known.WaitAsync(Wait));
        Assert.StartsWith("the balancer of 'user' stopped before it knew the membership", error.Message);
    }

    [Fact]
    public async Task A_wait_for_the_membership_ends_when_the_discovery_stops_before_the_balancer_knew_it()
    {
        var balancer = Start();
        var hot = HotPath(balancer);
        var known = hot.WhenKnownAsync();

        _discovery.Ref.Tell(PoisonPill.Instance);

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => known.WaitAsync(Wait));
        Assert.Equal("the registry's discovery stopped before the balancer of 'user' knew the membership", error.Message);
        Assert.True(hot.IsStale);
    }

    [Fact]
    public void Before_the_snapshot_while_etcd_is_unreachable_picks_say_so()
    {
        var balancer = Start();
        var hot = HotPath(balancer);

        Send(balancer, new MembershipStale("user", true, "listing failed: etcd unavailable", 0));

        Assert.Equal("the membership of 'user' is not known yet: etcd is unreachable (listing failed: etcd unavailable)", ExpectNoInstance(balancer).Reason);
        Assert.True(hot.IsStale);
        // Still unreachable, for another reason: the reason follows.
        Send(balancer, new MembershipStale("user", true, "listing failed: the SSL connection could not be established", 0));
        Assert.Equal("the membership of 'user' is not known yet: etcd is unreachable (listing failed: the SSL connection could not be established)",
            ExpectNoInstance(balancer).Reason);
        Send(balancer, Snapshot(Members("a")));
        Assert.Equal(["a"], PickIds(balancer, 1));
        Assert.False(hot.IsStale);
    }

    [Fact]
    public void An_empty_membership_is_answered_with_a_clear_reason()
    {
        var balancer = Start();
        Send(balancer, Snapshot([]));

        Assert.Equal("no instance of 'user' is registered", ExpectNoInstance(balancer).Reason);
    }

    [Fact]
    public void Picks_follow_the_snapshot_and_every_change()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a", "b")));
        Assert.Equal(["a", "b", "a", "b"], PickIds(balancer, 4));

        Send(balancer, new InstanceUp("user", Balancers.Instance("c"), 11));
        Assert.Equal(["b", "c", "a", "b"], PickIds(balancer, 4));

        Send(balancer, new InstanceDown("user", Balancers.Instance("a"), 12));
        Assert.Equal(["b", "c", "b", "c"], PickIds(balancer, 4));

        var moved = Balancers.Instance("b", address: "10.1.1.1:9000");
        Send(balancer, new InstanceUpdated("user", Balancers.Instance("b"), moved, 13));
        var picked = Enumerable.Range(0, 2).Select(_ =>
        {
            balancer.Tell(new Pick(), TestActor);
            return ExpectMsg<Picked>(Wait).Instance;
        }).ToArray();
        Assert.Contains(moved, picked);
        Assert.Equal(["b", "c"], HotPath(balancer).Members.Select(m => m.Id));
    }

    [Fact]
    public void A_new_snapshot_replaces_the_membership()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a", "b")));
        Send(balancer, new InstanceUp("user", Balancers.Instance("c"), 11));

        Send(balancer, Snapshot(Members("d"), revision: 20));

        Assert.Equal(["d", "d"], PickIds(balancer, 2));
    }

    [Fact]
    public void A_stale_membership_is_kept_and_flagged()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a", "b")));
        var hot = HotPath(balancer);

        Send(balancer, new MembershipStale("user", true, "etcd unreachable", 10));
        Assert.Equal(["a", "b"], PickIds(balancer, 2));
        Assert.True(hot.IsStale);
        Assert.Equal(["a", "b"], hot.Members.Select(m => m.Id));

        Send(balancer, new MembershipStale("user", false, null, 10));
        PickIds(balancer, 1);
        Assert.False(hot.IsStale);
    }

    [Fact]
    public void Events_of_another_service_are_ignored()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a")));

        Send(balancer, new InstanceUp("billing", ServiceInstance.Create("billing", "x:1"), 11));

        Assert.Equal(["a", "a"], PickIds(balancer, 2));
    }

    [Fact]
    public void The_hot_path_reader_sees_the_same_snapshot()
    {
        var balancer = Start();
        var hot = HotPath(balancer);
        Assert.False(hot.Pick().HasInstance);
        Assert.Equal("the membership of 'user' is not known yet", hot.UnavailableReason);

        Send(balancer, Snapshot(Members("a", "b")));
        Send(balancer, new InstanceUp("user", Balancers.Instance("c"), 11));
        PickIds(balancer, 1);

        Assert.Same(hot, HotPath(balancer));
        Assert.Equal(["a", "b", "c"], hot.Members.Select(m => m.Id));
        Assert.Equal(["a", "b", "c"], hot.Available.Select(m => m.Id));
        Assert.Equal("round-robin", hot.Policy);
        // The actor and the hot path share one policy: the round-robin turn continues across both.
        Assert.Equal("b", hot.PickId());
        Assert.Equal("c", PickId(balancer));
    }

    [Fact]
    public void A_reported_failure_ejects_the_instance_until_its_backoff_ends()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a", "b", "c")));

        balancer.Tell(new ReportFailure("a"), TestActor);
        Assert.Equal(["b", "c", "b", "c"], PickIds(balancer, 4));

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("a", PickIds(balancer, 3));
    }

    [Fact]
    public void A_reported_success_resets_the_failures()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a", "b", "c")));
        var hot = HotPath(balancer);
        balancer.Tell(new ReportFailure("a"), TestActor);
        PickIds(balancer, 1);
        _time.Advance(TimeSpan.FromSeconds(1));
        PickIds(balancer, 1);

        balancer.Tell(new ReportSuccess("a"), TestActor);
        balancer.Tell(new ReportFailure("a"), TestActor);
        PickIds(balancer, 1);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("a", hot.AvailableIds());
    }

    [Fact]
    public void Reported_timeouts_eject_the_instance_at_the_third_in_a_row()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a", "b", "c")));
        var hot = HotPath(balancer);

        balancer.Tell(new ReportTimeout("a"), TestActor);
        balancer.Tell(new ReportTimeout("a"), TestActor);
        balancer.Tell(new ReportSuccess("a"), TestActor);
        balancer.Tell(new ReportTimeout("a"), TestActor);
        balancer.Tell(new ReportTimeout("a"), TestActor);
        PickIds(balancer, 1);
        Assert.Equal(["a", "b", "c"], hot.AvailableIds());

        balancer.Tell(new ReportTimeout("a"), TestActor);
        PickIds(balancer, 1);
        Assert.Equal(["b", "c"], hot.AvailableIds());
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(2)]
    [InlineData(null)]
    public void A_custom_policy_that_throws_or_picks_out_of_range_fails_that_pick_and_the_actor_goes_on(int? index)
    {
        var policy = new ScriptedPolicy();
        var balancer = Sys.ActorOf(BalancerActor.Props("user", _discovery.Ref, Balancers.Exact, policy, _time));
        _discovery.ExpectMsg<SubscribeMembership>(Wait);
        Send(balancer, Snapshot(Members("a", "b")));
        policy.Next = index;

        balancer.Tell(new Pick(), TestActor);

        var failure = ExpectMsg<Status.Failure>(Wait).Cause;
        if (index is { } i) Assert.Equal($"policy 'scripted' picked index {i} of 2 instance(s) of 'user'", failure.Message);
        else Assert.IsType<ArithmeticException>(failure);
        policy.Next = 1;
        Assert.Equal("b", PickId(balancer));
        Assert.Equal(0, HotPath(balancer).Find("a")!.Outstanding + HotPath(balancer).Find("b")!.Outstanding);
        // A crash would show as the restarted actor unsubscribing and subscribing again.
        _discovery.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void Membership_changes_that_come_together_are_published_as_one_snapshot()
    {
        var policy = new GatedPreparePolicy();
        var balancer = Sys.ActorOf(BalancerActor.Props("user", _discovery.Ref, Balancers.Exact, policy, _time));
        _discovery.ExpectMsg<SubscribeMembership>(Wait);
        Send(balancer, Snapshot(Members("a")));
        Assert.Equal(["a"], PickIds(balancer, 1));
        var prepared = policy.Prepared;

        // The actor builds the snapshot with b while 24 more instances come up.
        policy.Gate.Reset();
        policy.Preparing.Reset();
        Send(balancer, new InstanceUp("user", Balancers.Instance("b"), 11));
        Assert.True(policy.Preparing.Wait(Wait), "b was never published");
        var later = Enumerable.Range(0, 24).Select(i => $"c{i:00}").ToArray();
        foreach (var id in later) Send(balancer, new InstanceUp("user", Balancers.Instance(id), 12));
        Send(balancer, new MembershipStale("user", true, "watch broke", 12));
        policy.Gate.Set();

        var hot = HotPath(balancer);
        Assert.Equal(new[] { "a", "b" }.Concat(later), hot.AvailableIds());
        Assert.True(hot.IsStale);
        Assert.Equal(prepared + 2, policy.Prepared);
    }

    /// <summary>Picks <see cref="Next"/>; throws when it is null.</summary>
    private sealed class ScriptedPolicy : ILoadBalancingPolicy
    {
        public int? Next { get; set; }

        public string Name => "scripted";

        public int Pick(AvailableInstances instances, string? key) => Next ?? throw new ArithmeticException("the policy's own bug");
    }

    [Fact]
    public void Outcomes_for_unknown_instances_are_ignored()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a", "b")));

        balancer.Tell(new ReportFailure("zz"), TestActor);

        Assert.Equal(["a", "b"], HotPath(balancer).AvailableIds());
        // A crash would show as the restarted actor unsubscribing and subscribing again (the hot path alone survives
        // it), both sent before it could answer the round trip above.
        _discovery.ExpectNoMsg(TimeSpan.Zero);
    }

    [Fact]
    public void An_outcome_for_an_address_the_instance_has_left_is_ignored()
    {
        var balancer = Start();
        var before = Balancers.Instance("a");
        Send(balancer, Snapshot([before, Balancers.Instance("b")]));
        var moved = Balancers.Instance("a", address: "10.0.0.9:8080");
        Send(balancer, new InstanceUpdated("user", before, moved, 11));

        // Calls made at the old address, reported late: the new registration is not judged by them.
        balancer.Tell(new ReportFailure("a", before.Address), TestActor);
        for (var n = 0; n < 3; n++) balancer.Tell(new ReportTimeout("a", before.Address), TestActor);
        Assert.Equal(["a", "b"], HotPath(balancer).AvailableIds());

        balancer.Tell(new ReportFailure("a", moved.Address), TestActor);
        Assert.Equal(["b"], HotPath(balancer).AvailableIds());
    }

    [Fact]
    public void Unsubscribes_when_stopped_and_leaves_the_hot_path_with_a_stale_membership()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a")));
        var hot = HotPath(balancer);

        Watch(balancer);
        Sys.Stop(balancer);
        ExpectTerminated(balancer, Wait);

        Assert.Equal("user", _discovery.ExpectMsg<UnsubscribeMembership>(Wait).Service);
        Assert.True(hot.IsStale);
        Assert.Equal("a", hot.PickId());
    }

    [Fact]
    public void Keeps_the_membership_as_stale_when_the_discovery_actor_stops()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a")));
        var hot = HotPath(balancer);

        Sys.Stop(_discovery.Ref);
        AwaitCondition(() => hot.IsStale, Wait);

        Assert.Equal("a", PickId(balancer));
    }

    [Fact]
    public void A_restarted_balancer_subscribes_again_and_keeps_its_hot_path()
    {
        var balancer = Start();
        Send(balancer, Snapshot(Members("a")));
        var hot = HotPath(balancer);

        // A malformed event crashes the actor; its supervisor restarts it.
        EventFilter.Exception<NullReferenceException>().ExpectOne(() => Send(balancer, new InstanceUp("user", null!, 11)));
        _discovery.FishForMessage<SubscribeMembership>(_ => true, Wait);
        Send(balancer, Snapshot(Members("a", "b"), revision: 12));

        Assert.Same(hot, HotPath(balancer));
        Assert.Equal(["a", "b"], hot.Members.Select(m => m.Id));
        Assert.False(hot.IsStale);
    }

    [Fact]
    public async Task A_balancer_restarted_before_its_first_snapshot_still_ends_the_wait_for_the_membership_with_it()
    {
        var balancer = Start();
        var hot = HotPath(balancer);
        var known = hot.WhenKnownAsync();

        // A malformed snapshot crashes the actor; its supervisor restarts it, with the same hot path.
        EventFilter.Exception<NullReferenceException>().ExpectOne(() => Send(balancer, Snapshot([null!])));
        _discovery.FishForMessage<SubscribeMembership>(_ => true, Wait);
        Send(balancer, Snapshot(Members("a"), revision: 12));

        await known.WaitAsync(Wait);
        Assert.Equal(["a"], hot.Members.Select(m => m.Id));
    }

    [Fact]
    public void Subscribes_again_when_the_discovery_actor_fails_on_the_subscription()
    {
        var balancer = Start();

        EventFilter.Error(contains: "failed on the subscription; subscribing again in").ExpectOne(() =>
            _discovery.Reply(new Status.Failure(new InvalidOperationException("a bug in the discovery actor"))));

        Assert.Equal("user", _discovery.ExpectMsg<SubscribeMembership>(Wait).Service);
        Assert.Equal(balancer, _discovery.LastSender);
        Send(balancer, Snapshot(Members("a")));
        Assert.Equal(["a"], PickIds(balancer, 1));
    }

    [Fact]
    public void An_unknown_policy_is_refused_naming_the_valid_ones()
    {
        var error = Assert.Throws<ArgumentException>(() => BalancerActor.Props("user", _discovery.Ref, Balancers.Exact, "fastest"));
        Assert.Contains("'fastest'", error.Message);
        Assert.Contains("random, round-robin, weighted, p2c, hash", error.Message);
    }

    [Fact]
    public void The_hash_policy_is_reachable_through_messages()
    {
        var balancer = Start("hash");
        Send(balancer, Snapshot(Members("a", "b", "c", "d")));

        var keys = Enumerable.Range(0, 21).Select(i => $"k{i}").ToArray();
        var first = keys.ToDictionary(k => k, k => PickId(balancer, k));
        var hot = HotPath(balancer);

        // The hot path asked in reverse order, with keys not a multiple of 4: only a pick by key agrees on every key.
        Assert.All(Enumerable.Reverse(keys), k => Assert.Equal(first[k], hot.PickId(k)));
    }
}
