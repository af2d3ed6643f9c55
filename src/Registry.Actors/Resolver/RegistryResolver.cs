using Akka.Actor;
using Grpc.Core;
using Grpc.Net.Client.Balancer;

namespace Registry;

/// <summary>
/// The resolver of one channel: starts a <see cref="ResolverActor"/> that subscribes to the service's membership and
/// hands each change to the channel. Every result is delivered from that actor, one at a time and in order.
/// </summary>
internal sealed class RegistryResolver(string service, ActorSystem system) : Resolver
{
    private static long _count;
    private readonly Lock _lock = new();
    // Held while a result is handed to the channel, so none reaches it once Dispose returned. Not _lock: the channel
    // asks for a refresh while holding its own lock, which a delivery takes.
    private readonly Lock _delivering = new();
    private IActorRef? _actor;
    private bool _started;
    private bool _disposed;

    public override void Start(Action<ResolverResult> listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_started) throw new InvalidOperationException("the resolver has already been started");
            try
            {
                // Results still in the actor's mailbox when the channel is disposed are not delivered.
                var props = ResolverActor.Props(service, ServiceRegistry.Get(system).Discovery, r =>
                {
                    lock (_delivering)
                    {
                        if (!Volatile.Read(ref _disposed)) listener(r);
                    }
                });
                _actor = ((ExtendedActorSystem)system).SystemActorOf(props, $"grpc-resolver-{service}-{Interlocked.Increment(ref _count)}");
            }
            catch (Exception e) when (system.WhenTerminated.IsCompleted || CoordinatedShutdown.Get(system).ShutdownReason is not null)
            {
                // The actor system has terminated, or is shutting down: no actor can start, and every call would fail as
                // an internal error of the channel instead. Any other failure is the caller's to see.
                listener(ResolverResult.ForFailure(new Grpc.Core.Status(StatusCode.Unavailable,
                    $"the membership of '{service}' is not known: the actor system '{system.Name}' is terminating or has terminated ({e.Message})")));
            }
            _started = true;
        }
    }

    /// <summary>
    /// The membership is pushed as it changes; a refresh hands the channel the last result again. Ignored once
    /// disposed: subchannels closing with the channel still ask for one.
    /// </summary>
    public override void Refresh()
    {
        lock (_lock)
        {
            if (_disposed) return;
            if (!_started) throw new InvalidOperationException("the resolver has not been started");
            // Without an actor (the actor system had terminated) the failure given at the start stands.
            _actor?.Tell(ResolverActor.Refresh.Instance);
        }
    }

    protected override void Dispose(bool disposing)
    {
        lock (_lock)
        {
            if (_disposed) return;
            _disposed = true;
            _actor?.Tell(PoisonPill.Instance);
        }
        // A result being handed over now reaches the channel before its balancer is disposed; later ones never do.
        lock (_delivering)
        {
        }
        base.Dispose(disposing);
    }
}
