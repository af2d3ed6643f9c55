using Microsoft.Extensions.Time.Testing;

namespace Registry.Tests.Balancing;

/// <summary>Ejection of failing instances, driven by a fake clock (base back-off 1s, max 8s, no jitter).</summary>
public sealed class PassiveHealthTests
{
    private static readonly TimeSpan Tick = TimeSpan.FromTicks(1);
    private readonly FakeTimeProvider _time = new();

    private ServiceBalancer Create(params string[] ids) => Balancers.Create("round-robin", Balancers.Instances(ids), time: _time);

    private ServiceBalancer CreateWith(string hocon, params string[] ids) =>
        Balancers.Create("round-robin", Balancers.Instances(ids), Balancers.Settings(hocon), _time);

    private static void Fail(ServiceBalancer balancer, string id)
    {
        var call = PickUntil(balancer, id);
        call.Fail();
    }

    private static void TimeOut(ServiceBalancer balancer, string id, int times = 1)
    {
        for (var i = 0; i < times; i++) PickUntil(balancer, id).TimedOut();
    }

    private static BalancedCall PickUntil(ServiceBalancer balancer, string id)
    {
        for (var i = 0; i < 100; i++)
        {
            var call = balancer.Pick();
            if (call.Instance?.Id == id) return call;
            call.Release();
        }
        throw new InvalidOperationException($"{id} is never picked");
    }

    [Fact]
    public void A_failed_instance_is_ejected_for_the_base_backoff_then_readmitted()
    {
        var balancer = Create("a", "b", "c");

        Fail(balancer, "a");
        Assert.Equal(["b", "c"], balancer.AvailableIds());
        Assert.DoesNotContain("a", Enumerable.Range(0, 10).Select(_ => balancer.PickId()));
        Assert.Equal(["a", "b", "c"], balancer.Members.Select(m => m.Id));

        _time.Advance(TimeSpan.FromSeconds(1) - Tick);
        Assert.Equal(["b", "c"], balancer.AvailableIds());
        _time.Advance(Tick);
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
    }

    [Fact]
    public void A_failure_count_at_its_limit_keeps_the_maximum_backoff()
    {
        var balancer = Create("a", "b", "c");
        balancer.Find("a")!.ConsecutiveFailures = int.MaxValue;

        for (var round = 0; round < 2; round++)
        {
            Fail(balancer, "a");
            _time.Advance(TimeSpan.FromSeconds(8) - Tick);
            Assert.DoesNotContain("a", balancer.AvailableIds());
            _time.Advance(Tick);
            Assert.Contains("a", balancer.AvailableIds());
        }
    }

    [Fact]
    public void Consecutive_failures_double_the_backoff_up_to_its_maximum()
    {
        var balancer = Create("a", "b", "c");
        var expected = new[] { 1, 2, 4, 8, 8 };

        foreach (var seconds in expected)
        {
            Fail(balancer, "a");
            _time.Advance(TimeSpan.FromSeconds(seconds) - Tick);
            Assert.DoesNotContain("a", balancer.AvailableIds());
            _time.Advance(Tick);
            Assert.Contains("a", balancer.AvailableIds());
        }
    }

    [Fact]
    public void A_success_resets_the_backoff()
    {
        var balancer = Create("a", "b", "c");
        Fail(balancer, "a");
        _time.Advance(TimeSpan.FromSeconds(1));
        Fail(balancer, "a");
        _time.Advance(TimeSpan.FromSeconds(2));

        PickUntil(balancer, "a").Succeed();
        Fail(balancer, "a");

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("a", balancer.AvailableIds());
    }

    [Fact]
    public void Calls_in_flight_when_an_instance_was_ejected_do_not_lengthen_its_ejection()
    {
        var balancer = Create("a", "b", "c");
        var inFlight = Enumerable.Range(0, 3).Select(_ => PickUntil(balancer, "a")).ToArray();

        inFlight[0].Fail();
        inFlight[1].Fail();
        inFlight[2].Succeed();

        Assert.Equal(0, balancer.Available.Count(i => i.Id == "a"));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Contains("a", balancer.AvailableIds());
        // The success during the ejection did not reset it either: the next failure is the second in a row.
        Fail(balancer, "a");
        _time.Advance(TimeSpan.FromSeconds(2) - Tick);
        Assert.DoesNotContain("a", balancer.AvailableIds());
    }

    [Fact]
    public void A_success_racing_a_failure_never_leaves_the_instance_ejected_with_no_failure_counted()
    {
        var balancer = Create("a", "b", "c");
        var state = balancer.Find("a")!;
        var broken = 0;
        for (var round = 0; round < 2000; round++)
        {
            // Healthy again, as after a re-admission, then one thread's calls succeed while another's fails.
            state.EjectedUntil = 0;
            state.ConsecutiveFailures = 0;
            _time.Advance(TimeSpan.FromSeconds(100));
            using var go = new Barrier(2);
            var succeeding = new Thread(() =>
            {
                go.SignalAndWait();
                for (var i = 0; i < 2000; i++) balancer.Succeeded(state);
            });
            succeeding.Start();
            go.SignalAndWait();
            balancer.Failed(state);
            succeeding.Join();
            // Ejected means one failure counted: the next back-off doubles from there.
            if (state.EjectedUntil != 0 && state.ConsecutiveFailures == 0) broken++;
        }

        Assert.Equal(0, broken);
    }

    [Fact]
    public void The_only_instance_is_never_ejected()
    {
        var balancer = Create("a");

        Fail(balancer, "a");
        Fail(balancer, "a");

        Assert.Equal(["a"], balancer.AvailableIds());
        Assert.Null(balancer.UnavailableReason);
    }

    [Fact]
    public void Not_every_instance_is_ejected_even_when_every_one_fails_and_the_share_allows_all()
    {
        var balancer = CreateWith("registry.balancing.ejection { random-factor = 0, max-ejected-percent = 100 }", "a", "b", "c");

        foreach (var id in new[] { "a", "b", "c" }) Fail(balancer, id);

        Assert.Equal(["c"], balancer.AvailableIds());
    }

    [Fact]
    public void At_most_the_max_ejected_share_is_ejected_at_once()
    {
        var balancer = Create("a", "b", "c", "d");

        foreach (var id in new[] { "a", "b", "c", "d" }) Fail(balancer, id);

        Assert.Equal(["c", "d"], balancer.AvailableIds());
        // Once a slot frees, the next failure ejects again.
        _time.Advance(TimeSpan.FromSeconds(1));
        Fail(balancer, "d");
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
    }

    [Fact]
    public void When_members_leave_too_many_ejections_end_early_soonest_first()
    {
        var balancer = Create("a", "b", "c", "d");
        Fail(balancer, "a");
        _time.Advance(TimeSpan.FromMilliseconds(100));
        Fail(balancer, "b");

        balancer.Publish([.. Balancers.Instances("a", "b")], stale: false);

        Assert.Equal(["a"], balancer.AvailableIds());
    }

    [Fact]
    public void An_instance_is_ejected_at_its_third_timeout_in_a_row_and_a_success_starts_the_count_again()
    {
        var balancer = Create("a", "b", "c");

        TimeOut(balancer, "a", 2);
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
        PickUntil(balancer, "a").Succeed();
        TimeOut(balancer, "a", 2);
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
        // Released calls and other instances' timeouts do not break the run.
        PickUntil(balancer, "a").Release();
        TimeOut(balancer, "b");
        TimeOut(balancer, "a");

        Assert.Equal(["b", "c"], balancer.AvailableIds());
        Assert.Equal(0, balancer.Find("a")!.Outstanding);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
    }

    [Fact]
    public void After_an_ejection_one_timeout_ejects_again_for_a_longer_backoff_until_a_call_succeeds()
    {
        var balancer = Create("a", "b", "c");
        TimeOut(balancer, "a", 3);
        _time.Advance(TimeSpan.FromSeconds(1));

        TimeOut(balancer, "a");
        _time.Advance(TimeSpan.FromSeconds(2) - Tick);
        Assert.Equal(["b", "c"], balancer.AvailableIds());
        _time.Advance(Tick);
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());

        PickUntil(balancer, "a").Succeed();
        TimeOut(balancer, "a", 2);
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
    }

    [Fact]
    public void After_a_failed_call_one_timeout_ejects_and_timeouts_during_an_ejection_do_not_lengthen_it()
    {
        var balancer = Create("a", "b", "c");
        var late = new[] { PickUntil(balancer, "a"), PickUntil(balancer, "a"), PickUntil(balancer, "a") };
        TimeOut(balancer, "a");
        Fail(balancer, "a");
        foreach (var call in late) call.TimedOut();
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());

        TimeOut(balancer, "a");

        // The second failure in a row: 2 s, not more for the calls that timed out while it was out.
        _time.Advance(TimeSpan.FromSeconds(2) - Tick);
        Assert.Equal(["b", "c"], balancer.AvailableIds());
        _time.Advance(Tick);
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
    }

    [Theory]
    [InlineData("registry.balancing.ejection.consecutive-timeouts = 0")]
    [InlineData("registry.balancing.ejection.max-ejected-percent = 0")]
    public void Timeouts_never_eject_when_turned_off(string hocon)
    {
        var balancer = CreateWith(hocon, "a", "b", "c");

        TimeOut(balancer, "a", 10);

        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
    }

    [Fact]
    public async Task Picks_go_on_with_the_current_view_while_another_thread_rebuilds_it_after_an_ejection_ended()
    {
        var policy = new GatedPreparePolicy();
        var balancer = new ServiceBalancer("user", policy, Balancers.Exact, _time);
        balancer.Publish([.. Balancers.Instances("a", "b", "c")], stale: false);
        Fail(balancer, "a");
        _time.Advance(TimeSpan.FromSeconds(1));

        // The first pick past the ejection's end rebuilds the view, here held up in the policy's Prepare.
        policy.Gate.Reset();
        policy.Preparing.Reset();
        var rebuilding = Task.Run(() => balancer.PickId());
        Assert.True(policy.Preparing.Wait(TimeSpan.FromSeconds(30)), "the rebuild never started");

        // Throws TimeoutException if the pick waits for the rebuild.
        var meanwhile = await Task.Run(() => balancer.PickId()).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotEqual("a", meanwhile);

        policy.Gate.Set();
        await rebuilding;
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
    }

    [Fact]
    public void Ejection_is_off_when_the_max_share_is_zero()
    {
        var balancer = CreateWith("registry.balancing.ejection.max-ejected-percent = 0", "a", "b");

        Fail(balancer, "a");

        Assert.Equal(["a", "b"], balancer.AvailableIds());
    }

    [Fact]
    public void The_backoff_is_jittered_within_the_random_factor()
    {
        var balancer = CreateWith("registry.balancing.ejection { base-backoff = 10s, random-factor = 0.2 }", "a", "b");

        Fail(balancer, "a");

        _time.Advance(TimeSpan.FromSeconds(8) - Tick);
        Assert.Equal(["b"], balancer.AvailableIds());
        _time.Advance(TimeSpan.FromSeconds(4) + Tick);
        Assert.Equal(["a", "b"], balancer.AvailableIds());
    }

    [Fact]
    public void Each_ejection_draws_its_own_backoff()
    {
        var ids = Enumerable.Range(0, 40).Select(i => $"i{i:00}").ToArray();
        var balancer = CreateWith("registry.balancing.ejection { base-backoff = 10s, random-factor = 0.2 }", ids);
        var ejected = ids[..20];
        foreach (var id in ejected) Fail(balancer, id);
        Assert.Empty(balancer.AvailableIds().Intersect(ejected));

        _time.Advance(TimeSpan.FromSeconds(10));

        // Drawn within 8–12 s: all 20 on one side of 10 s has a chance of about two in a million.
        Assert.InRange(balancer.AvailableIds().Intersect(ejected).Count(), 1, 19);
    }

    [Fact]
    public void Health_and_outstanding_calls_survive_a_membership_change_of_other_instances()
    {
        var balancer = Create("a", "b", "c");
        Fail(balancer, "a");
        var held = PickUntil(balancer, "b");

        balancer.Publish([.. Balancers.Instances("a", "b", "c", "d")], stale: false);

        Assert.Equal(["b", "c", "d"], balancer.AvailableIds());
        Assert.Equal(1, balancer.Available.Outstanding(0));
        held.Succeed();
        Assert.Equal(0, balancer.Available.Outstanding(0));
    }

    [Fact]
    public void An_instance_that_moved_to_a_new_address_starts_afresh()
    {
        var balancer = Create("a", "b", "c");
        Fail(balancer, "a");

        balancer.Publish([Balancers.Instance("a", address: "elsewhere:9090"), .. Balancers.Instances("b", "c")], stale: false);

        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
        Assert.Equal("elsewhere:9090", balancer.Available[0].Address);
    }

    [Fact]
    public void A_weight_change_keeps_the_instance_state_and_takes_the_new_weight()
    {
        var balancer = Create("a", "b");
        var held = PickUntil(balancer, "a");

        balancer.Publish([Balancers.Instance("a", weight: 3), Balancers.Instance("b")], stale: false);

        Assert.Equal(3, balancer.Available[0].Weight);
        Assert.Equal(1, balancer.Available.Outstanding(0));
        held.Release();
    }
}
