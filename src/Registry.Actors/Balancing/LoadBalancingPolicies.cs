namespace Registry.Balancing;

/// <summary>The built-in policies, created by name.</summary>
internal static class LoadBalancingPolicies
{
    public const string Random = "random";
    public const string RoundRobin = "round-robin";
    public const string Weighted = "weighted";
    public const string PowerOfTwoChoices = "p2c";
    public const string ConsistentHash = "hash";

    /// <summary>Every valid policy name.</summary>
    public static IReadOnlyList<string> Names { get; } = [Random, RoundRobin, Weighted, PowerOfTwoChoices, ConsistentHash];

    /// <summary>A new policy named <paramref name="name"/>, for one balancer (policies keep per-balancer state).</summary>
    /// <exception cref="ArgumentException">The name is not one of <see cref="Names"/>.</exception>
    public static ILoadBalancingPolicy Create(string name, BalancingSettings settings) => name switch
    {
        Random => new RandomLoadBalancingPolicy(),
        RoundRobin => new RoundRobinLoadBalancingPolicy(),
        Weighted => new WeightedLoadBalancingPolicy(),
        PowerOfTwoChoices => new PowerOfTwoChoicesLoadBalancingPolicy(),
        ConsistentHash => new ConsistentHashLoadBalancingPolicy(settings.HashLoadFactor, settings.VirtualNodes),
        _ => throw new ArgumentException($"unknown load-balancing policy '{name}': expected one of {string.Join(", ", Names)}", nameof(name)),
    };
}
