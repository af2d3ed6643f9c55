namespace Registry.Tests.Infrastructure;

/// <summary>
/// The tests that hold registrations and views to the fault model's wall-clock bounds: a cut of half a 3 s TTL leaves
/// the key, a 3 s TTL outlasts an etcd restart or a leader kill, kill -9 removes a key within the TTL + 1 s, SIGTERM
/// within 1 s, a watch converges within 2 s of a heal, no call fails while instances are killed. They run one at a
/// time after every parallel collection: with the whole suite running (load averages of 7–8 on 2 cores), this
/// process's thread pool and the machine's cores were starved often enough to stretch a 1.5 s cut or an expiry past
/// its margin. The demo and the client-path tests, which call as fast as they can, would take the cores from the rest.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class WallClockFaults
{
    public const string Name = "wall-clock faults";
}
