using System.Threading.Channels;
using Akka.Actor;
using Akka.Configuration;

namespace Registry.Tests.Registration;

/// <summary>
/// One "process" using the registry against real etcd: an actor system with <see cref="ServiceRegistry"/>
/// configured for the given endpoints, whose registration events a test can await.
/// </summary>
internal sealed class RegistryUnderTest : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly Channel<RegistrationEvent> _events = Channel.CreateUnbounded<RegistrationEvent>();

    /// <param name="endpoints">The etcd client URLs.</param>
    /// <param name="ttlSeconds">The registrations' TTL.</param>
    /// <param name="hocon">More settings, over these.</param>
    public RegistryUnderTest(IEnumerable<string> endpoints, long ttlSeconds = 3, string hocon = "")
    {
        hocon += $$"""

            akka.loglevel = WARNING
            registry {
              etcd.endpoints = [{{string.Join(", ", endpoints.Select(e => $"\"{e}\""))}}]
              ttl = {{ttlSeconds}}s
            }
            """;
        System = ActorSystem.Create("registry-test", ConfigurationFactory.ParseString(hocon));
        var collector = System.ActorOf(Props.Create(() => new Collector(_events.Writer)));
        System.EventStream.Subscribe(collector, typeof(RegistrationEvent));
        Supervisor = ServiceRegistry.Get(System).Supervisor;
    }

    public ActorSystem System { get; }

    public IActorRef Supervisor { get; }

    public async Task<Registered> RegisterAsync(ServiceInstance instance) =>
        await Supervisor.Ask<object>(new Register(instance), Wait) switch
        {
            Registered registered => registered,
            var other => throw new InvalidOperationException($"expected Registered, got {other}"),
        };

    /// <summary>The next event of <paramref name="kind"/>, skipping others.</summary>
    public async Task<RegistrationEvent> NextAsync(RegistrationEventKind kind, TimeSpan? timeout = null)
    {
        var skipped = new List<RegistrationEventKind>();
        using var cts = new CancellationTokenSource(timeout ?? Wait);
        try
        {
            await foreach (var e in _events.Reader.ReadAllAsync(cts.Token))
            {
                if (e.Kind == kind) return e;
                skipped.Add(e.Kind);
            }
        }
        catch (OperationCanceledException)
        {
        }
        throw new TimeoutException($"no {kind} event; saw [{string.Join(", ", skipped)}]");
    }

    /// <summary>Events received so far and not yet consumed.</summary>
    public IReadOnlyList<RegistrationEvent> Drain()
    {
        var drained = new List<RegistrationEvent>();
        while (_events.Reader.TryRead(out var e)) drained.Add(e);
        return drained;
    }

    public async ValueTask DisposeAsync() => await System.Terminate();

    private sealed class Collector : ReceiveActor
    {
        public Collector(ChannelWriter<RegistrationEvent> writer) => Receive<RegistrationEvent>(e => writer.TryWrite(e));
    }
}
