using Akka.Actor;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Registry.Host.Cli;

namespace Registry.Host.Sample;

/// <summary>
/// The registration of a sample server, tied to the host's lifecycle. <see cref="StartedAsync"/> runs after every
/// hosted service started, Kestrel included, so the instance is registered only once its port accepts connections.
/// <see cref="StoppingAsync"/> runs before any hosted service stops: the instance is deregistered and the drain delay
/// waited while Kestrel still serves and the actor system still runs; Kestrel's own stop then lets the calls in flight
/// finish. A conflict (a newer process took the id) stops the host: the newer instance is the one to keep.
/// The registry also deregisters every instance by itself when the host begins to stop (<c>AddServiceRegistry</c>),
/// but a stop through <see cref="IHost.StopAsync"/> runs <see cref="StoppingAsync"/> before that, and the drain delay
/// must follow the deregistration: so it is asked for here, as an application with a drain delay of its own would.
/// </summary>
internal sealed class SampleRegistration(
    IServiceProvider services,
    SampleServerOptions options,
    SampleServerSettings settings,
    SampleAddress address,
    InFlightCalls calls,
    IHostApplicationLifetime lifetime,
    ILogger<SampleRegistration> log) : IHostedLifecycleService
{
    private readonly TaskCompletionSource<Registered> _registered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IActorRef? _supervisor;
    private Task<object>? _answer;
    private ServiceInstance? _instance;
    private volatile bool _conflicted;

    /// <summary>The instance as registered; null until the server listens.</summary>
    public ServiceInstance? Instance => _instance;

    /// <summary>Completes once the key is written; fails with <see cref="SampleRegistrationException"/> when refused.</summary>
    public Task<Registered> Registered => _registered.Task;

    public Task StartingAsync(CancellationToken ct) => Task.CompletedTask;

    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken ct)
    {
        var system = services.GetRequiredService<ActorSystem>();
        var listening = address.Listening(services.GetRequiredService<IServer>());
        var instance = new ServiceInstance(options.Service, options.Id ?? listening, listening, options.Metadata,
            options.Weight, options.Version, DateTimeOffset.UtcNow);
        var key = InstanceCodec.Key(options.Common.Prefix, instance.Service, instance.Id);
        var listener = system.ActorOf(Akka.Actor.Props.Create(() => new ConflictListener(key, OnConflict)));
        system.EventStream.Subscribe(listener, typeof(RegistrationEvent));
        _instance = instance;
        _supervisor = ServiceRegistry.Get(system).Supervisor;
        log.LogInformation("listening on {Address}; registering {Key}", listening, key);
        // No timeout: while etcd does not answer the registration is retried; deregistration answers it at the latest.
        _answer = _supervisor.Ask<object>(new Register(instance, options.TtlSeconds));
        _ = CompleteAsync(_answer);
        return Task.CompletedTask;
    }

    public async Task StoppingAsync(CancellationToken ct)
    {
        if (_supervisor is null || _instance is null) return; // never listened: nothing was registered
        var instance = _instance;
        // The key now belongs to a newer process; its registration actor has stopped by itself.
        if (!_conflicted)
        {
            var timeout = ServiceRegistry.Get(services.GetRequiredService<ActorSystem>()).Settings.DeregisterTimeout + TimeSpan.FromSeconds(1);
            try
            {
                await _supervisor.Ask<Deregistered>(new Deregister(instance.Service, instance.Id), timeout, ct);
            }
            catch (Exception e)
            {
                log.LogWarning("{Service}/{Id} not deregistered ({Error}); it stays listed until its lease expires", instance.Service, instance.Id, e.Message);
            }
        }
        // Registered answers before Deregistered: a key that was written at all is known to be by now.
        var wasRegistered = _answer is { IsCompletedSuccessfully: true, Result: Registered _ };
        if (wasRegistered && !_conflicted && settings.DrainDelay > TimeSpan.Zero)
        {
            log.LogInformation("{Service}/{Id} deregistered; serving {Delay} more so clients see it leave", instance.Service, instance.Id, SettingReader.Duration(settings.DrainDelay));
            try
            {
                await Task.Delay(settings.DrainDelay, ct);
            }
            catch (OperationCanceledException)
            {
                // the shutdown timeout cut the drain short; the stop goes on
            }
        }
        log.LogInformation("stopping to accept calls; {Count} in flight may finish within the shutdown timeout", calls.Count);
    }

    public Task StopAsync(CancellationToken ct) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken ct)
    {
        _registered.TrySetCanceled(CancellationToken.None);
        return Task.CompletedTask;
    }

    private async Task CompleteAsync(Task<object> answer)
    {
        try
        {
            switch (await answer)
            {
                case Registered registered:
                    _registered.TrySetResult(registered);
                    break;
                case RegistrationFailed failed:
                    _registered.TrySetException(new SampleRegistrationException(failed));
                    break;
            }
        }
        catch (Exception e)
        {
            _registered.TrySetException(e);
        }
    }

    private void OnConflict()
    {
        _conflicted = true;
        // Not on the listener's thread: the stop waits for the registry to deregister, which needs the actors running.
        _ = Task.Run(lifetime.StopApplication);
    }

    /// <summary>Hears of a conflict on the instance's key, which ends its registration for good.</summary>
    private sealed class ConflictListener : ReceiveActor
    {
        public ConflictListener(string key, Action conflicted)
        {
            Receive<RegistrationEvent>(e => e.Key == key && e.Kind == RegistrationEventKind.Conflict, _ => conflicted());
            Receive<RegistrationEvent>(_ => { });
        }
    }
}

/// <summary>The registry refused a sample server's registration, or a newer process took its id (<see cref="IsConflict"/>).</summary>
internal sealed class SampleRegistrationException(RegistrationFailed failure) : Exception(failure.Describe())
{
    public RegistrationFailed Failure { get; } = failure;

    public bool IsConflict => Failure.Kind == RegistrationFailure.Conflict;
}
