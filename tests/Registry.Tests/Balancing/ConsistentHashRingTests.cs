using System.Collections.Immutable;
using Registry.Balancing;

namespace Registry.Tests.Balancing;

/// <summary>The hash ring built from the ring before it is the ring sorted afresh.</summary>
public sealed class ConsistentHashRingTests
{
    private const int VirtualNodes = 160;

    [Fact]
    public void A_ring_built_from_an_earlier_one_equals_the_ring_sorted_afresh()
    {
        var random = new Random(20261127);
        var balancer = Balancers.Create("hash", []);
        var members = new SortedSet<string>(StringComparer.Ordinal);
        ConsistentHashLoadBalancingPolicy.Ring? previous = null;

        for (var step = 0; step < 60; step++)
        {
            // Instances join and leave a few at a time, as a membership or an ejection changes; sometimes all at once.
            if (step % 20 == 19) members.Clear();
            for (var i = random.Next(0, 6); i > 0; i--) members.Add($"i{random.Next(0, 80)}");
            foreach (var gone in members.Where(_ => random.Next(0, 8) == 0).ToList()) members.Remove(gone);
            balancer.Publish([.. members.Select(id => Balancers.Instance(id))], stale: false);

            var ring = new ConsistentHashLoadBalancingPolicy.Ring(balancer.Available, VirtualNodes, previous);
            var fresh = new ConsistentHashLoadBalancingPolicy.Ring(balancer.Available, VirtualNodes, null);

            Assert.Equal(fresh.Points, ring.Points);
            Assert.Equal(fresh.Owners, ring.Owners);
            previous = ring;
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    [InlineData(64)]
    [InlineData(1000)]
    public void A_lookup_finds_the_first_point_at_or_after_the_hash_wrapping_around(int instances)
    {
        var random = new Random(instances);
        var balancer = Balancers.Create("hash", []);
        balancer.Publish([.. Enumerable.Range(0, instances).Select(i => Balancers.Instance($"i{i}"))], stale: false);
        var ring = new ConsistentHashLoadBalancingPolicy.Ring(balancer.Available, VirtualNodes, null);

        // Random hashes, every point itself and its neighbours, and both ends of the hash space.
        var hashes = Enumerable.Range(0, 2000).Select(_ => (ulong)random.NextInt64() * 2 + (ulong)random.Next(2))
            .Concat(ring.Points.SelectMany(p => new[] { p - 1, p, p + 1 }))
            .Append(0UL).Append(ulong.MaxValue);
        foreach (var hash in hashes)
        {
            // The points are distinct 64-bit hashes: a binary search lands on the one at or after the hash.
            var found = Array.BinarySearch(ring.Points, hash);
            var expected = found >= 0 ? found : ~found;
            Assert.Equal(expected == ring.Points.Length ? 0 : expected, ring.Find(hash));
        }
    }
}
