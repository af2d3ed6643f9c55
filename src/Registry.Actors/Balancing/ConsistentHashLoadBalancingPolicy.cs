using System.Numerics;

namespace Registry.Balancing;

/// <summary>
/// <c>hash</c>: consistent hashing of the caller's key on a ring of virtual nodes, with bounded load (Mirrokni,
/// Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads"): a key goes to the first instance clockwise from
/// its hash whose outstanding calls stay within load-factor × the average, so a hot key spills over instead of
/// drowning one instance. When an instance leaves, only its keys move. Without a key, picks at random.
/// </summary>
internal sealed class ConsistentHashLoadBalancingPolicy(double loadFactor, int virtualNodes) : ILoadBalancingPolicy, IPreparedPolicy
{
    // The ring of the latest snapshot prepared, which the next one is built from.
    private Ring? _latest;

    public string Name => LoadBalancingPolicies.ConsistentHash;

    public void Prepare(AvailableInstances instances)
    {
        var ring = new Ring(instances, virtualNodes, Volatile.Read(ref _latest));
        instances.Prepared = ring;
        Volatile.Write(ref _latest, ring);
    }

    public int Pick(AvailableInstances instances, string? key)
    {
        if (key is null) return Random.Shared.Next(instances.Count);
        var ring = RingOf(instances);
        var start = ring.Find(StableHash.Of(key));
        // The key's own instance when it is idle, without reading the total: most picks end here.
        var first = ring.Owners[start];
        return instances.Outstanding(first) == 0 ? first : Walk(instances, ring, start, tried: []);
    }

    /// <summary>
    /// The instance for the retry of a call with <paramref name="key"/> that tried <paramref name="tried"/>: the first
    /// untried one clockwise from the key's hash with room for the call (else the first untried one), so the retries of
    /// a failing instance's keys go where they would if it were ejected, each key to the same one. -1 when every
    /// instance was tried.
    /// </summary>
    public int PickUntried(AvailableInstances instances, string key, ReadOnlySpan<string> tried)
    {
        var ring = RingOf(instances);
        return Walk(instances, ring, ring.Find(StableHash.Of(key)), tried);
    }

    /// <summary>Prepared as the balancer built the snapshot; a snapshot built elsewhere gets its ring at its first pick.</summary>
    private Ring RingOf(AvailableInstances instances)
    {
        if (instances.Prepared is not Ring ring) instances.Prepared = ring = new Ring(instances, virtualNodes, Volatile.Read(ref _latest));
        return ring;
    }

    /// <summary>
    /// From the ring point <paramref name="start"/> clockwise, the first instance not in <paramref name="tried"/> with
    /// room for the call, else the first not in it; -1 when every instance is in it. An instance has room while its
    /// calls stay under ceil(c · (calls in flight + 1) / n), the running total's share: while calls · n &lt;
    /// c · (calls in flight + 1), without a division.
    /// </summary>
    private int Walk(AvailableInstances instances, Ring ring, int start, ReadOnlySpan<string> tried)
    {
        var owners = ring.Owners;
        var share = loadFactor * (instances.TotalOutstanding + 1);
        double count = instances.Count;
        var untried = -1;
        for (var at = start; ;)
        {
            var owner = owners[at];
            if (tried.IsEmpty || !tried.Contains(instances[owner].Id))
            {
                if (instances.Outstanding(owner) * count < share) return owner;
                if (untried < 0) untried = owner;
            }
            if (++at == owners.Length) at = 0;
            if (at == start) return untried;
        }
    }

    /// <summary>
    /// The sorted points of a snapshot's instances, the index of each point's owner, and where on the ring each range of
    /// hashes (by their top bits) begins, so a lookup reads a few neighbouring points instead of searching the ring.
    /// </summary>
    internal sealed class Ring
    {
        /// <summary>Points per range of the index, on average at most.</summary>
        private const int PointsPerRange = 4;

        public readonly AvailableInstances Instances;
        public readonly ulong[] Points;
        public readonly int[] Owners;
        private readonly int[] _starts;
        private readonly int _shift;

        /// <summary>
        /// Sorts every point of <paramref name="instances"/>, or, given the ring of an earlier snapshot, keeps its order:
        /// the points of instances still there are taken over in one pass and the few new instances' points merged in.
        /// An ejection or a membership change then costs a pass over the ring rather than sorting it again (10,000
        /// instances are 1.6 million points).
        /// </summary>
        public Ring(AvailableInstances instances, int virtualNodes, Ring? previous)
        {
            Instances = instances;
            Points = new ulong[instances.Count * virtualNodes];
            Owners = new int[Points.Length];
            // Ids are unique in a snapshot (the watcher keys instances by id), so each earlier point maps to one owner.
            var now = new Dictionary<string, int>(instances.Count, StringComparer.Ordinal);
            for (var i = 0; i < instances.Count; i++) now[instances[i].Id] = i;

            // Each earlier owner's index in this snapshot, or -1 when it is gone.
            var moved = new int[previous?.Instances.Count ?? 0];
            var kept = new bool[instances.Count];
            for (var old = 0; old < moved.Length; old++)
            {
                moved[old] = now.TryGetValue(previous!.Instances[old].Id, out var index) ? index : -1;
                if (moved[old] >= 0) kept[moved[old]] = true;
            }

            var added = Enumerable.Range(0, instances.Count).Where(i => !kept[i]).ToArray();
            var addedPoints = new ulong[added.Length * virtualNodes];
            var addedOwners = new int[addedPoints.Length];
            for (var a = 0; a < added.Length; a++)
            {
                // Points depend on the id only, so other instances' points stay put when one joins or leaves.
                var seed = StableHash.Of(instances[added[a]].Id);
                for (var v = 0; v < virtualNodes; v++)
                {
                    addedPoints[a * virtualNodes + v] = StableHash.Mix(seed + (ulong)v * 0x9E3779B97F4A7C15UL);
                    addedOwners[a * virtualNodes + v] = added[a];
                }
            }
            Array.Sort(addedPoints, addedOwners);

            var from = previous?.Points ?? [];
            int next = 0, p = 0, q = 0;
            while (next < Points.Length)
            {
                // The next earlier point whose owner stays, then the smaller of it and the next new point.
                while (p < from.Length && moved[previous!.Owners[p]] < 0) p++;
                if (p < from.Length && (q == addedPoints.Length || from[p] <= addedPoints[q]))
                {
                    Points[next] = from[p];
                    Owners[next++] = moved[previous!.Owners[p++]];
                }
                else
                {
                    Points[next] = addedPoints[q];
                    Owners[next++] = addedOwners[q++];
                }
            }

            // 2^bits ranges of hashes, each starting at the first point at or above the range's lowest hash.
            var bits = BitOperations.Log2((uint)Math.Max(1, Points.Length / PointsPerRange)) + 1;
            _shift = 64 - bits;
            _starts = new int[1 << bits];
            for (int range = 0, point = 0; range < _starts.Length; range++)
            {
                while (point < Points.Length && RangeOf(Points[point]) < range) point++;
                _starts[range] = point;
            }
        }

        private int RangeOf(ulong hash) => (int)(hash >> _shift);

        /// <summary>The first point at or after <paramref name="hash"/>, wrapping around.</summary>
        public int Find(ulong hash)
        {
            var points = Points;
            var at = _starts[RangeOf(hash)];
            while (at < points.Length && points[at] < hash) at++;
            return at == points.Length ? 0 : at;
        }
    }
}
