namespace Registry.Balancing;

/// <summary>
/// <c>weighted</c>: smooth weighted round-robin as nginx does it — each instance gets its registered weight's share
/// of the calls, interleaved (weights 5, 1, 1 give a a b a c a a) rather than in bursts. The schedule of one period
/// is computed once per snapshot, as the balancer builds it, so a pick is one increment and one array read. The turn
/// is the policy's, not the schedule's: a snapshot rebuilt more often than once a period (an instance flapping in and
/// out of ejection, etcd blinking) would otherwise start every schedule again at its first turns and starve the rest.
/// </summary>
internal sealed class WeightedLoadBalancingPolicy : ILoadBalancingPolicy, IPreparedPolicy
{
    // Longer periods (huge or coprime weights) are scaled down to about this many turns: each weight is rounded down
    // to whole turns (at least one), so a share can be short by up to one turn in the period (weights 20000, 3, 3:
    // 2 turns rather than ~2.5 for each small one).
    private const int MaxPeriod = 1 << 14;

    private Schedule? _schedule;
    private int _turn = -1;

    public string Name => LoadBalancingPolicies.Weighted;

    public void Prepare(AvailableInstances instances) => Volatile.Write(ref _schedule, new Schedule(instances));

    public int Pick(AvailableInstances instances, string? key)
    {
        var schedule = Volatile.Read(ref _schedule);
        // Prepared with the snapshot: only a pick on a snapshot replaced meanwhile finds another one's schedule, and
        // builds its own without replacing the newer one.
        if (schedule is null || !ReferenceEquals(schedule.Instances, instances))
        {
            var built = new Schedule(instances);
            if (schedule is null || instances.Version >= schedule.Instances.Version) Volatile.Write(ref _schedule, built);
            schedule = built;
        }
        var turn = (uint)Interlocked.Increment(ref _turn) % (uint)schedule.Order.Length;
        return schedule.Order[turn];
    }

    private sealed class Schedule
    {
        public readonly AvailableInstances Instances;
        public readonly int[] Order;

        public Schedule(AvailableInstances instances)
        {
            Instances = instances;
            var weights = Weights(instances);
            if (weights.All(w => w == 1))
            {
                // Equal weights: the schedule is plain round-robin, without the period × instances loop below.
                Order = [.. Enumerable.Range(0, weights.Length)];
                return;
            }
            var period = (int)weights.Sum(w => (long)w);
            Order = new int[period];
            var current = new long[weights.Length];
            for (var turn = 0; turn < period; turn++)
            {
                var best = 0;
                for (var i = 0; i < weights.Length; i++)
                {
                    current[i] += weights[i];
                    if (current[i] > current[best]) best = i;
                }
                current[best] -= period;
                Order[turn] = best;
            }
        }

        /// <summary>The weights divided by their common divisor, scaled down when the period would be too long.</summary>
        private static int[] Weights(AvailableInstances instances)
        {
            var weights = instances.Select(i => (long)Math.Max(1, i.Weight)).ToArray();
            var divisor = weights.Aggregate(0L, Gcd);
            var total = weights.Sum() / divisor;
            return total <= MaxPeriod
                ? weights.Select(w => (int)(w / divisor)).ToArray()
                : weights.Select(w => (int)Math.Max(1, w * MaxPeriod / (total * divisor))).ToArray();
        }

        private static long Gcd(long a, long b) => b == 0 ? a : Gcd(b, a % b);
    }
}
