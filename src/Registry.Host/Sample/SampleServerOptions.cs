using System.Collections.Immutable;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Registry.Host.Cli;

namespace Registry.Host.Sample;

/// <summary>What a <see cref="SampleServer"/> serves as, where it listens, and how it stops.</summary>
internal sealed record SampleServerOptions
{
    /// <summary>etcd endpoints, key prefix and log level, as the command line resolves them.</summary>
    public required CommonSettings Common { get; init; }

    /// <summary>The service the instance registers under.</summary>
    public required string Service { get; init; }

    /// <summary>
    /// host:port to listen on and register. Port 0 picks a free port (the registered address then carries the real
    /// one). An IP address listens on that address, <c>localhost</c> on loopback, any other host name on every interface.
    /// </summary>
    public string Address { get; init; } = "127.0.0.1:0";

    /// <summary>The instance id; null: the address listened on.</summary>
    public string? Id { get; init; }

    /// <summary>Lease TTL in whole seconds; null: <c>registry.ttl</c>.</summary>
    public long? TtlSeconds { get; init; }

    public int Weight { get; init; } = 1;

    public string? Version { get; init; }

    public ImmutableSortedDictionary<string, string> Metadata { get; init; } = ServiceInstance.EmptyMetadata;

    /// <summary>How long to keep serving after deregistering; null: <c>registry.serve.drain-delay</c>.</summary>
    public TimeSpan? DrainDelay { get; init; }

    /// <summary>Bound of the whole stop; null: <c>registry.serve.shutdown-timeout</c>.</summary>
    public TimeSpan? ShutdownTimeout { get; init; }

    /// <summary>
    /// True: SIGINT/SIGTERM stop the server (the console lifetime, for a process that is one server). False, the
    /// default: only <see cref="SampleServer.StopAsync"/> does, so several servers can share a process.
    /// </summary>
    public bool HandleSignals { get; init; }

    /// <summary>
    /// Adds services after the server's own. A hosted service added here starts after the registration's (which
    /// waits for <c>StartedAsync</c>) and before Kestrel's, which WebApplication always adds last.
    /// </summary>
    public Action<IServiceCollection>? ConfigureServices { get; init; }

    /// <summary>Adds to the actor system's configuration, e.g. actors started before the instance registers.</summary>
    public Action<AkkaConfigurationBuilder>? ConfigureAkka { get; init; }
}
