using Registry.Balancing;

namespace Registry.Tests.Balancing;

/// <summary>
/// Round-robin that counts the snapshots it prepared, says when it starts preparing one (<see cref="Preparing"/>) and
/// holds it there while <see cref="Gate"/> is reset: a rebuild that takes its time.
/// </summary>
internal sealed class GatedPreparePolicy : ILoadBalancingPolicy, IPreparedPolicy
{
    private int _prepared;
    private int _turn = -1;

    public ManualResetEventSlim Gate { get; } = new(true);

    public ManualResetEventSlim Preparing { get; } = new();

    public int Prepared => Volatile.Read(ref _prepared);

    public string Name => "gated";

    public void Prepare(AvailableInstances instances)
    {
        Interlocked.Increment(ref _prepared);
        Preparing.Set();
        Gate.Wait();
    }

    public int Pick(AvailableInstances instances, string? key) => (int)((uint)Interlocked.Increment(ref _turn) % (uint)instances.Count);
}
