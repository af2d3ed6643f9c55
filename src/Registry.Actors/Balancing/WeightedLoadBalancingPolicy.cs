namespace Registry.Balancing;

/// <summary>
/// <c>weighted</c>: smooth weighted round-robin as nginx does it — each instance gets its registered weight's share
/// of the calls, interleaved (weights 5, 1, 1 give a a b a c a a) rather than in bursts: exactly while the weights,
/// divided by their common divisor, sum to at most 16,384, and to within one turn in 16,384 beyond. The schedule of
/// one period is computed once per snapshot, as the balancer builds it, so a pick is one increment and one array
/// read. The turn is the policy's, not the schedule's: a snapshot rebuilt more often than once a period (an instance
/// flapping in and out of ejection, etcd blinking) would otherwise start every schedule again at its first turns and
/// starve the rest.
/// </summary>
internal sealed class WeightedLoadBalancingPolicy : ILoadBalancingPolicy, IPreparedPolicy
{
    // Longer periods (huge or coprime weights) are scaled down to this many turns, apportioned by largest remainders
    // with at least one turn each: a share is then within one turn of its exact value in the period (weights 20000, 3,
    // 3: 3 and 2 turns for the small ones, ~2.46 each exactly), but for an instance lifted to its one turn.
    internal const int MaxPeriod = 1 << 14;

    private int _turn = -1;

    public string Name => LoadBalancingPolicies.Weighted;

    public void Prepare(AvailableInstances instances) => instances.Prepared = new Schedule(instances);

    public int Pick(AvailableInstances instances, string? key)
    {
        // Prepared as the balancer built the snapshot; a snapshot built elsewhere gets its schedule at its first pick.
        if (instances.Prepared is not Schedule schedule) instances.Prepared = schedule = new Schedule(instances);
        var turn = (uint)Interlocked.Increment(ref _turn) % (uint)schedule.Order.Length;
        return schedule.Order[turn];
    }

    /// <summary>
    /// One period of smooth weighted round-robin: each turn every instance's current value grows by its weight and
    /// the first instance with the highest value is picked and loses the period, so at turn t an instance picked k
    /// times holds t · weight − period · k. Instances of one weight therefore keep their order among themselves: the
    /// one picked fewest times, then the lowest index, which is a rotation through them in index order. So only each
    /// weight's next instance competes in a turn: period × distinct weights steps, not period × instances (a
    /// 2,000-instance service with weights 1 to 7 rebuilt its schedule on every ejection in ~23 ms, now ~1.7 ms).
    /// </summary>
    internal static int[] Smooth(int[] weights)
    {
        var period = (int)weights.Sum(w => (long)w);
        var groups = weights.Select((weight, index) => (weight, index)).GroupBy(w => w.weight)
            .Select(g => new Group(g.Key, g.Select(w => w.index).ToArray())).ToArray();
        var order = new int[period];
        for (var turn = 1; turn <= period; turn++)
        {
            Group? best = null;
            var bestValue = 0L;
            foreach (var group in groups)
            {
                // The group's next instance has been picked picks / size times.
                var value = turn * (long)group.Weight - period * (long)(group.Picks / group.Members.Length);
                if (best is null || value > bestValue || (value == bestValue && group.Next < best.Next))
                {
                    best = group;
                    bestValue = value;
                }
            }
            order[turn - 1] = best!.Next;
            best.Picks++;
        }
        return order;
    }

    /// <summary>One period's order of a snapshot's instances.</summary>
    private sealed class Schedule(AvailableInstances instances)
    {
        public readonly int[] Order = Smooth(Turns(instances.Select(i => (long)Math.Max(1, i.Weight)).ToArray()));
    }

    /// <summary>
    /// The turns of each of <paramref name="weights"/> in one period: the weights divided by their common divisor, or,
    /// when those sum to more than <see cref="MaxPeriod"/>, that many turns apportioned by largest remainders, each
    /// weight at least one turn.
    /// </summary>
    internal static int[] Turns(long[] weights)
    {
        var divisor = weights.Aggregate(0L, Gcd);
        var total = weights.Sum();
        if (total / divisor <= MaxPeriod) return weights.Select(w => (int)(w / divisor)).ToArray();

        // w · MaxPeriod fits a long for any int weight: exact shares as quotient and remainder over the total.
        var turns = weights.Select(w => (int)Math.Max(1, w * MaxPeriod / total)).ToArray();
        var left = MaxPeriod - turns.Sum(t => (long)t);
        var byRemainder = Enumerable.Range(0, weights.Length)
            .Where(i => weights[i] * MaxPeriod / total >= 1)
            .OrderByDescending(i => weights[i] * MaxPeriod % total)
            .ThenBy(i => i);
        foreach (var i in byRemainder)
        {
            if (left-- <= 0) break;
            turns[i]++;
        }
        return turns;
    }

    private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);

    /// <summary>The instances of one weight, in index order, and how many turns they have had.</summary>
    private sealed class Group(int weight, int[] members)
    {
        public readonly int Weight = weight;
        public readonly int[] Members = members;
        public int Picks;

        public int Next => Members[Picks % Members.Length];
    }
}
