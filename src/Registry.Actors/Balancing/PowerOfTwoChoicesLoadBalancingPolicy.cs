namespace Registry.Balancing;

/// <summary>
/// <c>p2c</c>: two distinct instances at random, the one with fewer outstanding calls wins. Nearly as even as
/// least-outstanding, without scanning every instance or herding onto the one that just looked idle.
/// </summary>
internal sealed class PowerOfTwoChoicesLoadBalancingPolicy : ILoadBalancingPolicy
{
    public string Name => LoadBalancingPolicies.PowerOfTwoChoices;

    public int Pick(AvailableInstances instances, string? key)
    {
        var count = instances.Count;
        if (count == 1) return 0;
        var first = Random.Shared.Next(count);
        var second = Random.Shared.Next(count - 1);
        if (second >= first) second++;
        return instances.Outstanding(second) < instances.Outstanding(first) ? second : first;
    }
}
