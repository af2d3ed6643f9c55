using Registry.Balancing;

namespace Registry.Tests.Balancing;

public sealed class PolicyTests
{
    [Fact]
    public void Round_robin_visits_the_instances_in_id_order()
    {
        var balancer = Balancers.Create("round-robin", Balancers.Instances("a", "b", "c"));

        var order = Enumerable.Range(0, 7).Select(_ => balancer.PickId()).ToArray();

        Assert.Equal(["a", "b", "c", "a", "b", "c", "a"], order);
    }

    [Theory]
    [InlineData(new[] { 5, 3, 2 })]
    [InlineData(new[] { 7, 2, 1 })]
    [InlineData(new[] { 100, 1, 33, 10 })]
    public void Weighted_gives_each_instance_its_share_of_the_weights(int[] weights)
    {
        var members = weights.Select((w, i) => Balancers.Instance($"i{i}", w)).ToArray();
        var balancer = Balancers.Create("weighted", members);

        const int picks = 100_000;
        var tally = Balancers.Tally(balancer, picks);

        var total = weights.Sum();
        foreach (var member in members)
            Assert.InRange((double)tally[member.Id] / picks, (double)member.Weight / total - 0.01, (double)member.Weight / total + 0.01);
    }

    [Fact]
    public void Weighted_apportions_a_period_too_long_by_largest_remainders_within_one_turn_of_each_share()
    {
        // 16,385 in all: one more than the longest period. Rounded down, every weight of 2 would get one turn, as 1 does.
        long[] weights = [.. Enumerable.Repeat(2L, 5_462), .. Enumerable.Repeat(1L, 5_461)];

        var turns = WeightedLoadBalancingPolicy.Turns(weights);

        Assert.Equal(WeightedLoadBalancingPolicy.MaxPeriod, turns.Sum());
        var total = weights.Sum();
        for (var i = 0; i < weights.Length; i++)
            Assert.InRange(turns[i], Math.Max(1, Math.Floor(weights[i] * (double)WeightedLoadBalancingPolicy.MaxPeriod / total)), weights[i] * (double)WeightedLoadBalancingPolicy.MaxPeriod / total + 1);
        Assert.Equal(5_461, turns.Count(t => t == 2));

        var members = weights.Select((w, i) => Balancers.Instance($"i{i:00000}", (int)w)).ToArray();
        var tally = Balancers.Tally(Balancers.Create("weighted", members), WeightedLoadBalancingPolicy.MaxPeriod);
        Assert.Equal(5_461, members.Count(m => m.Weight == 2 && tally[m.Id] == 2));
        Assert.All(members, m => Assert.InRange(tally[m.Id], 1, m.Weight));
    }

    [Theory]
    [InlineData(new long[] { 100_000, 1, 3 }, new[] { 16_383, 1, 1 })]
    [InlineData(new long[] { 20_000, 3, 3 }, new[] { 16_379, 3, 2 })]
    [InlineData(new long[] { int.MaxValue, int.MaxValue - 1, 7 }, new[] { 8_192, 8_191, 1 })]
    [InlineData(new long[] { 300, 600, 900 }, new[] { 1, 2, 3 })]
    public void Weighted_turns_per_period(long[] weights, int[] expected) =>
        Assert.Equal(expected, WeightedLoadBalancingPolicy.Turns(weights));

    [Fact]
    public void Weighted_keeps_its_place_in_the_schedule_when_the_snapshot_is_rebuilt_every_few_picks()
    {
        var members = "abcdefgh".Select(id => Balancers.Instance(id.ToString(), weight: id == 'a' ? 2 : 1)).ToArray();
        var balancer = Balancers.Create("weighted", members);
        var picks = new List<string>();

        // A stale flag flipping (etcd blinking) builds a new snapshot, and with it a new schedule, every four picks.
        for (var round = 0; round < 90; round++)
        {
            for (var i = 0; i < 4; i++) picks.Add(balancer.PickId());
            balancer.SetStale(round % 2 == 0);
        }

        // 360 picks are 40 periods of 9 turns: a gets 2 turns a period, every other instance 1.
        var tally = picks.CountBy(id => id).ToDictionary();
        Assert.Equal(members.ToDictionary(m => m.Id, m => 40 * m.Weight), tally);
    }

    [Fact]
    public void Weighted_interleaves_picks_as_nginx_smooth_round_robin_does()
    {
        var balancer = Balancers.Create("weighted", [Balancers.Instance("a", 5), Balancers.Instance("b", 1), Balancers.Instance("c", 1)]);

        var picks = Enumerable.Range(0, 700).Select(_ => balancer.PickId()).ToArray();

        Assert.Equal(["a", "a", "b", "a", "c", "a", "a"], picks[..7]);
        // A plain weighted round-robin would give runs of five; the longest smooth run spans two periods (a a | a a).
        Assert.True(LongestRun(picks) <= 4, $"longest run {LongestRun(picks)}");
    }

    [Fact]
    public void Weighted_schedules_as_nginx_does_instance_by_instance()
    {
        var random = new Random(20261127);
        var cases = new List<int[]> { new[] { 5, 1, 1 }, new[] { 1, 1, 1 }, new[] { 3 }, new[] { 2, 2, 1, 1, 2, 1 } };
        for (var i = 0; i < 300; i++)
            cases.Add(Enumerable.Range(0, random.Next(1, 60)).Select(_ => random.Next(1, i % 3 == 0 ? 4 : 12)).ToArray());

        foreach (var weights in cases)
            Assert.True(NginxSmooth(weights).SequenceEqual(WeightedLoadBalancingPolicy.Smooth(weights)), $"weights {string.Join(", ", weights)}");
    }

    /// <summary>nginx's smooth weighted round-robin as written: every instance's value grows by its weight each turn.</summary>
    private static int[] NginxSmooth(int[] weights)
    {
        var period = weights.Sum();
        var current = new long[weights.Length];
        var order = new int[period];
        for (var turn = 0; turn < period; turn++)
        {
            var best = 0;
            for (var i = 0; i < weights.Length; i++)
            {
                current[i] += weights[i];
                if (current[i] > current[best]) best = i;
            }
            current[best] -= period;
            order[turn] = best;
        }
        return order;
    }

    [Fact]
    public void Random_spreads_picks_roughly_evenly()
    {
        var balancer = Balancers.Create("random", Balancers.Instances("a", "b", "c", "d"));

        var tally = Balancers.Tally(balancer, 40_000);

        // 10 000 expected each; the bound is ~20 standard deviations wide.
        Assert.All(tally.Values, count => Assert.InRange(count, 8_000, 12_000));
    }

    [Fact]
    public void Power_of_two_choices_favours_instances_with_fewer_outstanding_calls()
    {
        var balancer = Balancers.Create("p2c", Balancers.Instances("a", "b", "c"));
        var states = balancer.Available.States;
        for (var i = 0; i < 5; i++) states[0].Begin();
        states[1].Begin();

        var tally = Balancers.Tally(balancer, 30_000);

        // Two distinct instances per pick: the busiest never wins, the idle one wins every pair it is in.
        Assert.Equal(0, tally["a"]);
        Assert.InRange(tally["b"], 8_000, 12_000);
        Assert.InRange(tally["c"], 18_000, 22_000);
    }

    [Fact]
    public void Power_of_two_choices_spreads_held_calls_evenly()
    {
        var balancer = Balancers.Create("p2c", Balancers.Instances("a", "b", "c", "d"));

        for (var i = 0; i < 400; i++) balancer.Pick();

        var outstanding = Enumerable.Range(0, 4).Select(balancer.Available.Outstanding).ToArray();
        Assert.Equal(400, outstanding.Sum());
        Assert.True(outstanding.Max() - outstanding.Min() <= 10, string.Join(",", outstanding));
    }

    [Fact]
    public void Hash_sends_a_key_to_the_same_instance_every_time()
    {
        var balancer = Balancers.Create("hash", Balancers.Instances("a", "b", "c", "d", "e"));

        // Asked again in reverse order, and not a multiple of 5 keys: a policy that ignores the key picks differently.
        var keys = Enumerable.Range(0, 1_001).Select(i => $"user-{i}").ToArray();
        var first = keys.ToDictionary(k => k, k => balancer.PickId(k));
        var again = Enumerable.Reverse(keys).ToDictionary(k => k, k => balancer.PickId(k));

        Assert.All(keys, k => Assert.Equal(first[k], again[k]));
        Assert.Equal(5, first.Values.Distinct().Count());
    }

    [Fact]
    public void Hash_places_keys_the_same_way_in_every_balancer()
    {
        var one = Balancers.Create("hash", Balancers.Instances("a", "b", "c"));
        var other = Balancers.Create("hash", Balancers.Instances("c", "b", "a").OrderBy(i => i.Id));

        // The other balancer is asked in reverse order, so agreeing by the order of the questions is not enough.
        var keys = Enumerable.Range(0, 200).Select(i => $"k{i}").ToArray();
        var placed = keys.ToDictionary(k => k, k => one.PickId(k));

        Assert.All(Enumerable.Reverse(keys), k => Assert.Equal(placed[k], other.PickId(k)));
    }

    [Fact]
    public void Hash_moves_only_the_keys_of_an_instance_that_leaves()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"node-{i}").ToArray();
        var balancer = Balancers.Create("hash", Balancers.Instances(ids));
        var keys = Enumerable.Range(0, 10_000).Select(i => $"session-{i}").ToArray();
        var before = keys.ToDictionary(k => k, k => balancer.PickId(k));

        balancer.Publish([.. Balancers.Instances(ids.Where(id => id != "node-3").ToArray())], stale: false);
        var after = keys.ToDictionary(k => k, k => balancer.PickId(k));

        var moved = keys.Where(k => before[k] != after[k]).ToArray();
        Assert.All(moved, k => Assert.Equal("node-3", before[k]));
        Assert.Equal(keys.Count(k => before[k] == "node-3"), moved.Length);
        Assert.InRange(moved.Length / (double)keys.Length, 0.05, 0.15);
    }

    [Fact]
    public void Hash_moves_only_the_keys_a_new_instance_takes_over()
    {
        var ids = Enumerable.Range(0, 9).Select(i => $"node-{i}").ToArray();
        var balancer = Balancers.Create("hash", Balancers.Instances(ids));
        var keys = Enumerable.Range(0, 10_000).Select(i => $"session-{i}").ToArray();
        var before = keys.ToDictionary(k => k, k => balancer.PickId(k));

        balancer.Publish([.. Balancers.Instances([.. ids, "node-9"])], stale: false);

        var moved = keys.Where(k => before[k] != balancer.PickId(k)).ToArray();
        Assert.All(moved, k => Assert.Equal("node-9", balancer.PickId(k)));
        Assert.InRange(moved.Length / (double)keys.Length, 0.05, 0.15);
    }

    [Fact]
    public void Hash_spills_a_hot_key_over_when_its_instance_is_above_the_load_bound()
    {
        var balancer = Balancers.Create("hash", Balancers.Instances("a", "b", "c", "d"));
        var home = balancer.PickId("hot");
        var calls = new List<BalancedCall>();

        for (var held = 1; held <= 200; held++)
        {
            calls.Add(balancer.Pick("hot"));
            var bound = (int)Math.Ceiling(1.25 * held / 4);
            var loads = Enumerable.Range(0, 4).Select(balancer.Available.Outstanding).ToArray();
            Assert.True(loads.Max() <= bound, $"after {held} calls: loads {string.Join(",", loads)} exceed {bound}");
        }
        Assert.Equal(home, calls[0].Instance!.Id);

        foreach (var call in calls) call.Succeed();
        Assert.Equal(home, balancer.PickId("hot"));
    }

    [Fact]
    public void Hash_without_a_key_still_picks()
    {
        var balancer = Balancers.Create("hash", Balancers.Instances("a", "b"));
        Assert.Contains(balancer.PickId(), new[] { "a", "b" });
    }

    [Fact]
    public void Policies_are_created_by_name_and_an_unknown_name_lists_the_valid_ones()
    {
        foreach (var name in LoadBalancingPolicies.Names)
            Assert.Equal(name, LoadBalancingPolicies.Create(name, BalancingSettings.Default).Name);

        var error = Assert.Throws<ArgumentException>(() => LoadBalancingPolicies.Create("least-conn", BalancingSettings.Default));
        Assert.Contains("'least-conn'", error.Message);
        Assert.Contains("random, round-robin, weighted, p2c, hash", error.Message);
    }

    [Fact]
    public void Policies_pick_correctly_from_many_threads()
    {
        foreach (var name in LoadBalancingPolicies.Names)
        {
            var balancer = Balancers.Create(name, Balancers.Instances("a", "b", "c"));
            Parallel.For(0, 8, worker =>
            {
                for (var i = 0; i < 20_000; i++)
                {
                    var call = balancer.Pick($"k{i}");
                    Assert.True(call.HasInstance);
                    call.Succeed();
                }
            });
            Assert.All(Enumerable.Range(0, 3), i => Assert.Equal(0, balancer.Available.Outstanding(i)));
        }
    }

    private static int LongestRun(string[] picks)
    {
        int longest = 1, run = 1;
        for (var i = 1; i < picks.Length; i++)
        {
            run = picks[i] == picks[i - 1] ? run + 1 : 1;
            longest = Math.Max(longest, run);
        }
        return longest;
    }
}
