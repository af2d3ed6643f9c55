using BenchmarkDotNet.Attributes;

namespace Registry.Benchmarks.Micro;

/// <summary>
/// The raw floor under the hot-path figures, measured in the same run: an array indexed round-robin, i.e. what a pick
/// costs with no policy, no snapshot and no count of calls in flight.
/// </summary>
[MemoryDiagnoser]
public class BaselineBenchmarks
{
    private readonly ServiceInstance[] _instances = [.. Memberships.Of(8)];
    private int _turn;

    [Benchmark]
    public ServiceInstance ArrayRoundRobin() => _instances[(uint)Interlocked.Increment(ref _turn) % (uint)_instances.Length];
}
