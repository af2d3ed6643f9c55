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
}
