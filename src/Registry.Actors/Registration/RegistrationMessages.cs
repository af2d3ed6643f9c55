namespace Registry;

/// <summary>Asks the registry supervisor to register <paramref name="Instance"/> and keep it registered.</summary>
/// <param name="Instance">The instance to register.</param>
/// <param name="TtlSeconds">Lease TTL in whole seconds (2–3600); null takes <c>registry.ttl</c>.</param>
public sealed record Register(ServiceInstance Instance, long? TtlSeconds = null);

/// <summary>The instance is registered: its key exists, bound to a live lease.</summary>
public sealed record Registered(ServiceInstance Instance, string Key, long LeaseId);

/// <summary>The registration was refused or ended before it was made; <paramref name="Reason"/> names what is wrong.</summary>
/// <param name="Instance">The instance asked for; null when the <see cref="Register"/> carried none.</param>
/// <param name="Kind">Why it failed.</param>
/// <param name="Reason">What is wrong, naming every problem.</param>
public sealed record RegistrationFailed(ServiceInstance? Instance, RegistrationFailure Kind, string Reason);

/// <summary>Why a registration failed.</summary>
public enum RegistrationFailure
{
    /// <summary>The instance or its TTL is invalid, or the instance is registered already with another TTL.</summary>
    Invalid,

    /// <summary>A newer registration holds the instance's key: this process stopped registering it.</summary>
    Conflict,

    /// <summary>The instance, or the whole registry, is being deregistered.</summary>
    Stopping,

    /// <summary>
    /// The registry failed on the request with an unexpected exception (a bug), which the reason names; it dropped the
    /// request, possibly after part of its effect, and kept every registration it held.
    /// </summary>
    Error,
}

/// <summary>
/// Asks the registry supervisor to revoke an instance's lease, removing it from the registry. A service or id that no
/// instance can have is answered with a <see cref="Akka.Actor.Status.Failure"/> holding an <see cref="ArgumentException"/>
/// that names it (an <c>Ask</c> throws it); one the registry fails on unexpectedly, with a failure holding that exception.
/// </summary>
public sealed record Deregister(string Service, string Id);

/// <summary>The instance is no longer registered by this process.</summary>
public sealed record Deregistered(string Service, string Id);
