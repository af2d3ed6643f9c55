using BenchmarkDotNet.Attributes;
using Registry.Balancing;

namespace Registry.Benchmarks.Micro;

/// <summary>
/// <see cref="ServiceBalancer.Pick"/> with each policy, the call ended at once (as every caller must end it):
/// what a hot path pays per call, without a message round trip, on an idle service and on one with calls in flight.
/// Target: under 50 ns, 0 B allocated.
/// </summary>
[MemoryDiagnoser]
public class HotPathPickBenchmarks
{
    private const int Keys = 1024;
    private ServiceBalancer _balancer = null!;
    private ServiceBalancer _busy = null!;
    private string[] _keys = null!;
    private int _next;

    [ParamsSource(nameof(PolicyNames))]
    public string Policy { get; set; } = "";

    [Params(8, 64)]
    public int Instances { get; set; }

    public static IEnumerable<string> PolicyNames => LoadBalancingPolicies.Names;

    [GlobalSetup]
    public void Setup()
    {
        _balancer = Memberships.Balancer(Policy, Instances);
        // Keys for the hash policy (the others ignore them), made up front so the pick itself allocates nothing.
        _keys = Enumerable.Range(0, Keys).Select(i => $"user-{i}").ToArray();
        // A balancer with calls in flight (about two per instance, never ended): what load-aware policies (p2c, the
        // bounded load of hash) weigh.
        _busy = Memberships.Balancer(Policy, Instances);
        for (var i = 0; i < 2 * Instances; i++) _busy.Pick(_keys[i]);
    }

    [Benchmark]
    public bool Pick()
    {
        var call = _balancer.Pick(_keys[_next++ & (Keys - 1)]);
        call.Release();
        return call.HasInstance;
    }

    [Benchmark]
    public bool PickWithCallsInFlight()
    {
        var call = _busy.Pick(_keys[_next++ & (Keys - 1)]);
        call.Release();
        return call.HasInstance;
    }
}
