using Akka.Actor;
using Akka.Configuration;
using BenchmarkDotNet.Attributes;

namespace Registry.Benchmarks.Micro;

/// <summary>
/// The raw floor under the balancer's figures, measured in the same run: an array indexed round-robin (what a pick
/// costs with no policy, no snapshot and no outstanding-call count), and an Ask answered by an actor that only echoes
/// (what any Ask costs on this machine).
/// </summary>
[MemoryDiagnoser]
public class BaselineBenchmarks
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);
    private readonly ServiceInstance[] _instances = [.. Memberships.Of(8)];
    private int _turn;
    private ActorSystem _system = null!;
    private IActorRef _echo = null!;
    private Pick _pick = null!;

    [GlobalSetup]
    public void Setup()
    {
        _system = ActorSystem.Create("baseline", ConfigurationFactory.ParseString("akka.loglevel = WARNING"));
        _echo = _system.ActorOf(Props.Create(() => new EchoActor()), "echo");
        _pick = new Pick("user-42");
    }

    [GlobalCleanup]
    public void Cleanup() => _system.Terminate().Wait(Timeout);

    [Benchmark]
    public ServiceInstance ArrayRoundRobin() => _instances[(uint)Interlocked.Increment(ref _turn) % (uint)_instances.Length];

    [Benchmark]
    public async Task<object> AskEcho() => await _echo.Ask<object>(_pick, Timeout);

    private sealed class EchoActor : ReceiveActor
    {
        public EchoActor() => ReceiveAny(m => Sender.Tell(m));
    }
}
