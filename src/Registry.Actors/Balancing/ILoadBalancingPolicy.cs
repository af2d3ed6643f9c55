namespace Registry;

/// <summary>
/// Chooses one of a service's available instances for a call. One instance per balancer: a policy may keep state
/// (a round-robin position, a hash ring) and is called concurrently from many threads, so it must be thread-safe,
/// and on the hot path it should not allocate.
/// </summary>
public interface ILoadBalancingPolicy
{
    /// <summary>
    /// The policy's name, e.g. <c>round-robin</c>: a built-in policy is chosen by it (<c>registry.balancing.policy</c>).
    /// A policy of your own is passed as an object to <c>ServiceRegistry.Balancer</c>; its name, which must not be a
    /// built-in one, tells which balancer of a service it has.
    /// </summary>
    string Name { get; }

    /// <summary>Picks an instance for one call.</summary>
    /// <param name="instances">The instances that may be picked now (never empty); an immutable snapshot.</param>
    /// <param name="key">The caller's key (e.g. a user id) for policies that map keys to instances; may be null.</param>
    /// <returns>The index in <paramref name="instances"/> of the chosen instance.</returns>
    int Pick(AvailableInstances instances, string? key);
}
