using System.Collections.Concurrent;
using Akka;
using Akka.Actor;
using Akka.Event;
using Registry.Balancing;
using Registry.Etcd;
using Registry.Hosting;

namespace Registry;

/// <summary>
/// The registry of one actor system: its etcd client, its <see cref="RegistrySupervisor"/> and its
/// <see cref="DiscoverySupervisor"/>. Deregisters every
/// instance in CoordinatedShutdown's <c>before-service-unbind</c> phase, before the service stops listening; in a
/// host set up with <c>AddServiceRegistry</c>, already when the host begins to stop, before any hosted service does.
/// </summary>
public sealed class ServiceRegistry : IExtension
{
    private readonly IRegistryStore _store;
    private readonly ExtendedActorSystem _system;
    private readonly BalancingSettings _balancing;
    private readonly ConcurrentDictionary<(string Service, string Policy), Lazy<IActorRef>> _balancers = new();
    private long _balancersStarted;
    // The balancers running; with _closing, under its lock: the close stops every one, and none starts after it.
    private readonly HashSet<IActorRef> _running = [];
    private volatile bool _closing;
    private readonly TimeSpan _deregisterPatience;

    internal ServiceRegistry(ExtendedActorSystem system)
    {
        _system = system;
        system.Settings.InjectTopLevelFallback(RegistrySettings.Reference);
        var options = system.Settings.Setup.Get<ServiceRegistrySetup>();
        Settings = RegistrySettings.From(options.HasValue ? options.Value.Apply(system.Settings.Config) : system.Settings.Config);
        _balancing = BalancingSettings.From(system.Settings.Config);
        _store = new EtcdStore(Settings);
        Health.RegistryHealth.Get(system); // subscribed to the events before the supervisors can publish one
        Supervisor = system.SystemActorOf(RegistrySupervisor.Props(_store, Settings), "registry");
        Discovery = system.SystemActorOf(DiscoverySupervisor.Props(_store, Settings), "discovery");
        var shutdown = CoordinatedShutdown.Get(system);
        // The revokes give up after deregister-timeout and answer then: the wait for them gives them half of what is
        // left of their phase on top, so their answer comes first, and is still over within the phase.
        _deregisterPatience = Settings.DeregisterTimeout + (shutdown.Timeout(CoordinatedShutdown.PhaseBeforeServiceUnbind) - Settings.DeregisterTimeout) / 2;
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeServiceUnbind, "registry-deregister", async () =>
        {
            await DeregisterAllAsync();
            return Done.Instance;
        });
        // The two stops below, one after the other, take at most two thirds of the phase's time.
        var stopTimeout = shutdown.Timeout(CoordinatedShutdown.PhaseBeforeActorSystemTerminate) / 3;
        shutdown.AddTask(CoordinatedShutdown.PhaseBeforeActorSystemTerminate, "registry-close-etcd", async () =>
        {
            // Followers stop before the client closes: a watch broken by the closing client would otherwise be reported
            // as a stale view (a warning per service and balancer) in the middle of a normal stop. None is started
            // from here on.
            List<IActorRef> balancers;
            lock (_running)
            {
                _closing = true;
                balancers = [.. _running];
            }
            await Task.WhenAll(balancers.Select(b => StopAsync(b, stopTimeout)));
            await StopAsync(Discovery, stopTimeout);
            await _store.DisposeAsync();
            return Done.Instance;
        });
    }

    /// <summary>
    /// Deregisters every instance and refuses new registrations; completes once every lease is revoked or its revoke
    /// gave up after <c>registry.deregister-timeout</c> (what is left then expires with its lease), within the
    /// <c>before-service-unbind</c> phase's timeout whatever happens, and never fails.
    /// </summary>
    internal async Task DeregisterAllAsync()
    {
        try
        {
            await Supervisor.Ask<RegistrySupervisor.AllDeregistered>(RegistrySupervisor.DeregisterAll.Instance, _deregisterPatience).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _system.Log.Warning("not every instance was deregistered within {0}: {1}; their keys expire with their leases", _deregisterPatience, e.Message);
        }
    }

    private async Task StopAsync(IActorRef actor, TimeSpan timeout)
    {
        try
        {
            await actor.GracefulStop(timeout);
        }
        catch (Exception e)
        {
            _system.Log.Debug("{0} did not stop within {1} before the etcd client closed: {2}", actor.Path, timeout, e.Message);
        }
    }

    /// <summary>The supervisor to send <see cref="Register"/> and <see cref="Deregister"/> to.</summary>
    public IActorRef Supervisor { get; }

    /// <summary>The discovery actor to send <see cref="SubscribeMembership"/> to.</summary>
    public IActorRef Discovery { get; }

    internal RegistrySettings Settings { get; }

    /// <summary>
    /// The <c>BalancerActor</c> of <paramref name="service"/> with <paramref name="policy"/> (null: the configured
    /// <c>registry.balancing.policy</c>), started on first use and again after it stopped. Send it <see cref="Pick"/>, or
    /// ask it <see cref="GetBalancer"/> for the <see cref="ServiceBalancer"/> hot paths pick from; a
    /// <see cref="ServiceBalancer"/> taken from a balancer that stopped stays stale, so ask the new one.
    /// </summary>
    /// <exception cref="ArgumentException">The service name or the policy name is not valid; the message says which.</exception>
    /// <exception cref="InvalidOperationException">The registry is closing (the actor system shutting down).</exception>
    public IActorRef Balancer(string service, string? policy = null)
    {
        var name = policy ?? _balancing.Policy;
        if (!LoadBalancingPolicies.Names.Contains(name))
            throw new ArgumentException($"unknown load-balancing policy '{name}': expected one of {string.Join(", ", LoadBalancingPolicies.Names)}", nameof(policy));
        return Balancer(service, name, () => LoadBalancingPolicies.Create(name, _balancing));
    }

    /// <summary>
    /// The <c>BalancerActor</c> of <paramref name="service"/> picking with a policy of your own, started on first use and
    /// again after it stopped, as <see cref="Balancer(string, string)"/>; a balancer of that service with a policy of the
    /// same <see cref="ILoadBalancingPolicy.Name"/> is reused.
    /// </summary>
    /// <param name="service">The service to balance over.</param>
    /// <param name="policy">The policy, for this balancer alone (policies may keep per-balancer state).</param>
    /// <exception cref="ArgumentNullException">The policy is null.</exception>
    /// <exception cref="ArgumentException">
    /// The service name is not valid, or the policy has no name or that of a built-in policy (the two would share one
    /// balancer).
    /// </exception>
    /// <exception cref="InvalidOperationException">The registry is closing (the actor system shutting down).</exception>
    public IActorRef Balancer(string service, ILoadBalancingPolicy policy)
    {
        ArgumentNullException.ThrowIfNull(policy);
        if (LoadBalancingPolicies.Names.Contains(policy.Name))
            throw new ArgumentException($"the load-balancing policy's name '{policy.Name}' is that of a built-in policy; give yours another (built-in: {string.Join(", ", LoadBalancingPolicies.Names)})", nameof(policy));
        return Balancer(service, policy.Name, () => policy);
    }

    private IActorRef Balancer(string service, string name, Func<ILoadBalancingPolicy> policy)
    {
        if (InstanceValidation.CheckService(service) is { } problem) throw new ArgumentException(problem, nameof(service));
        if (string.IsNullOrEmpty(name)) throw new ArgumentException("the load-balancing policy has no name", nameof(policy));
        // Its balancers are stopped or stopping, and a new one would follow a discovery that stops too.
        if (_closing) throw Closing(service);
        return _balancers.GetOrAdd((service, name), key =>
        {
            Lazy<IActorRef>? entry = null;
            entry = new Lazy<IActorRef>(() =>
            {
                BalancerStarting?.Invoke(key.Service);
                IActorRef balancer;
                lock (_running)
                {
                    // Checked again: the close may have begun since; a Lazy that throws keeps throwing, as it should.
                    if (_closing) throw Closing(key.Service);
                    balancer = _system.SystemActorOf(BalancerActor.Props(key.Service, Discovery, _balancing, policy()), BalancerName(key.Service, key.Policy));
                    _running.Add(balancer);
                }
                // A balancer that stops (sent Kill, say) is forgotten, so the next caller starts another: a dead one
                // kept here would drop every pick for good.
                _ = balancer.WatchAsync().ContinueWith(_ =>
                {
                    lock (_running) _running.Remove(balancer);
                    _balancers.TryRemove(KeyValuePair.Create(key, entry!));
                }, TaskScheduler.Default);
                return balancer;
            });
            return entry;
        }).Value;
    }

    /// <summary>
    /// For tests: called with the service as a balancer starts, after the closing check and before the lock the close
    /// takes, so a test can hold a start there while the close begins.
    /// </summary>
    internal Action<string>? BalancerStarting { get; set; }

    private InvalidOperationException Closing(string service) =>
        new($"the registry of actor system '{_system.Name}' is closing: no balancer of '{service}' to give");

    /// <summary>
    /// Unique per balancer started, so a replacement never waits for its stopped predecessor's name. '~' never occurs
    /// in a service name, so no other service and policy give the same name.
    /// </summary>
    private string BalancerName(string service, string policy) =>
        $"balancer-{service}~{Uri.EscapeDataString(policy)}~{Interlocked.Increment(ref _balancersStarted)}";

    /// <summary>
    /// The hot-path <see cref="ServiceBalancer"/> of <see cref="Balancer(string, string)"/>. A balancer started by this
    /// call picks nothing until its first listing of etcd: await <see cref="ServiceBalancer.WhenKnownAsync"/> first.
    /// </summary>
    /// <exception cref="InvalidOperationException">The registry is closing (the actor system shutting down).</exception>
    public Task<ServiceBalancer> BalancerAsync(string service, string? policy = null, CancellationToken ct = default) =>
        ct.IsCancellationRequested ? Task.FromCanceled<ServiceBalancer>(ct) : Balancer(service, policy).Ask<ServiceBalancer>(GetBalancer.Instance, Settings.CallTimeout, ct);

    /// <summary>The hot-path <see cref="ServiceBalancer"/> of <see cref="Balancer(string, ILoadBalancingPolicy)"/>, as <see cref="BalancerAsync(string, string, CancellationToken)"/>.</summary>
    /// <exception cref="InvalidOperationException">The registry is closing (the actor system shutting down).</exception>
    public Task<ServiceBalancer> BalancerAsync(string service, ILoadBalancingPolicy policy, CancellationToken ct = default) =>
        ct.IsCancellationRequested ? Task.FromCanceled<ServiceBalancer>(ct) : Balancer(service, policy).Ask<ServiceBalancer>(GetBalancer.Instance, Settings.CallTimeout, ct);

    internal IRegistryStore Store => _store;

    /// <summary>The registry of <paramref name="system"/>, created on first use.</summary>
    public static ServiceRegistry Get(ActorSystem system) => system.WithExtension<ServiceRegistry, ServiceRegistryProvider>();
}

/// <summary>Creates the <see cref="ServiceRegistry"/> extension.</summary>
public sealed class ServiceRegistryProvider : ExtensionIdProvider<ServiceRegistry>
{
    /// <inheritdoc />
    public override ServiceRegistry CreateExtension(ExtendedActorSystem system) => new(system);
}
