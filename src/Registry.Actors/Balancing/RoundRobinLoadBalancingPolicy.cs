namespace Registry.Balancing;

/// <summary><c>round-robin</c>: the available instances in id order, one after the other.</summary>
internal sealed class RoundRobinLoadBalancingPolicy : ILoadBalancingPolicy
{
    private int _turn = -1;

    public string Name => LoadBalancingPolicies.RoundRobin;

    public int Pick(AvailableInstances instances, string? key) =>
        (int)((uint)Interlocked.Increment(ref _turn) % (uint)instances.Count);
}
