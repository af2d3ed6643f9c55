using Akka.Actor;
using Akka.Configuration;
using BenchmarkDotNet.Attributes;
using Registry.Balancing;

namespace Registry.Benchmarks.Micro;

/// <summary>
/// A <see cref="Pick"/> asked of the BalancerActor and answered with <see cref="Picked"/>: what a caller that goes
/// through messages pays per call (Ask creates a temporary actor for the answer). Target: under 5 µs.
/// </summary>
[MemoryDiagnoser]
public class ActorAskPickBenchmarks
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private ActorSystem _system = null!;
    private IActorRef _balancer = null!;
    private IActorRef _echo = null!;
    private Pick _pick = null!;

    [ParamsSource(nameof(PolicyNames))]
    public string Policy { get; set; } = "";

    public static IEnumerable<string> PolicyNames => LoadBalancingPolicies.Names;

    [GlobalSetup]
    public void Setup()
    {
        _system = ActorSystem.Create("bench", ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        var subscribed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var discovery = _system.ActorOf(Memberships.FixedDiscovery(8, subscribed), "discovery");
        _balancer = _system.ActorOf(BalancerActor.Props(Memberships.Service, discovery, BalancingSettings.Default, Policy), "balancer");
        _echo = _system.ActorOf(Props.Create(() => new EchoActor()), "echo");
        _pick = new Pick("user-42");
        // A local Tell enqueues at once: the snapshot is in the balancer's mailbox before `subscribed` completes, so a
        // Pick sent after that is handled behind it.
        if (!subscribed.Task.Wait(Timeout)) throw new TimeoutException("the balancer never subscribed to its membership");
        if (_balancer.Ask<object>(_pick, Timeout).Result is not Picked) throw new InvalidOperationException("the balancer has no instance to pick");
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait(Timeout);

    /// <summary>
    /// The baseline, beside each policy so both run at the same moment of a shared machine: an Ask answered by an
    /// actor that only echoes, i.e. what any Ask costs here.
    /// </summary>
    [Benchmark(Baseline = true)]
    public async Task<object> AskEcho() => await _echo.Ask<object>(_pick, Timeout);

    [Benchmark]
    public async Task<ServiceInstance> AskPick()
    {
        var picked = (Picked)await _balancer.Ask<object>(_pick, Timeout);
        return picked.Instance;
    }

    private sealed class EchoActor : ReceiveActor
    {
        public EchoActor() => ReceiveAny(m => Sender.Tell(m));
    }
}
