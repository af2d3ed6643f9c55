namespace Registry.Balancing;

/// <summary><c>random</c>: every available instance equally likely.</summary>
internal sealed class RandomLoadBalancingPolicy : ILoadBalancingPolicy
{
    public string Name => LoadBalancingPolicies.Random;

    public int Pick(AvailableInstances instances, string? key) => Random.Shared.Next(instances.Count);
}
