namespace Registry.Balancing;

/// <summary>
/// <c>hash</c>: consistent hashing of the caller's key on a ring of virtual nodes, with bounded load (Mirrokni,
/// Thorup, Zadimoghaddam, "Consistent Hashing with Bounded Loads"): a key goes to the first instance clockwise from
/// its hash whose outstanding calls stay within load-factor × the average, so a hot key spills over instead of
/// drowning one instance. When an instance leaves, only its keys move. Without a key, picks at random.
/// </summary>
internal sealed class ConsistentHashLoadBalancingPolicy(double loadFactor, int virtualNodes) : ILoadBalancingPolicy, IPreparedPolicy
{
    private Ring? _ring;

    public string Name => LoadBalancingPolicies.ConsistentHash;

    public void Prepare(AvailableInstances instances) => Volatile.Write(ref _ring, new Ring(instances, virtualNodes));

    public int Pick(AvailableInstances instances, string? key)
    {
        if (key is null) return Random.Shared.Next(instances.Count);
        var ring = Volatile.Read(ref _ring);
        // Prepared with the snapshot: only a pick on a snapshot replaced meanwhile finds another one's ring, and
        // builds its own without replacing the newer one.
        if (ring is null || !ReferenceEquals(ring.Instances, instances))
        {
            var built = new Ring(instances, virtualNodes);
            if (ring is null || instances.Version >= ring.Instances.Version) Volatile.Write(ref _ring, built);
            ring = built;
        }

        var start = ring.Find(StableHash.Of(key));
        var first = ring.Owners[start];

        // Room for this call: ceil(c · (calls + 1) / n), from the running total of calls in flight.
        var capacity = (long)Math.Ceiling(loadFactor * (instances.TotalOutstanding + 1) / instances.Count);
        if (instances.Outstanding(first) < capacity) return first;

        var points = ring.Owners.Length;
        for (var step = 1; step < points; step++)
        {
            var owner = ring.Owners[(start + step) % points];
            if (instances.Outstanding(owner) < capacity) return owner;
        }
        return ring.Owners[start];
    }

    private sealed class Ring
    {
        public readonly AvailableInstances Instances;
        public readonly ulong[] Points;
        public readonly int[] Owners;

        public Ring(AvailableInstances instances, int virtualNodes)
        {
            Instances = instances;
            Points = new ulong[instances.Count * virtualNodes];
            Owners = new int[Points.Length];
            for (var i = 0; i < instances.Count; i++)
            {
                // Points depend on the id only, so other instances' points stay put when one joins or leaves.
                var seed = StableHash.Of(instances[i].Id);
                for (var v = 0; v < virtualNodes; v++)
                {
                    Points[i * virtualNodes + v] = StableHash.Mix(seed + (ulong)v * 0x9E3779B97F4A7C15UL);
                    Owners[i * virtualNodes + v] = i;
                }
            }
            Array.Sort(Points, Owners);
        }

        /// <summary>The first point at or after <paramref name="hash"/>, wrapping around.</summary>
        public int Find(ulong hash)
        {
            var points = Points;
            int low = 0, high = points.Length;
            while (low < high)
            {
                var middle = (int)((uint)(low + high) >> 1);
                if (points[middle] < hash) low = middle + 1;
                else high = middle;
            }
            return low == points.Length ? 0 : low;
        }
    }
}
