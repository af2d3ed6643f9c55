namespace Registry;

/// <summary>
/// Asks a service's balancer actor for an instance to call; answered with <see cref="Picked"/> or
/// <see cref="NoInstance"/>. Hot paths use <see cref="ServiceBalancer.Pick"/> instead (no round trip).
/// </summary>
/// <param name="Key">The caller's key for the <c>hash</c> policy (e.g. a user id); other policies ignore it.</param>
public sealed record Pick(string? Key = null);

/// <summary>
/// The instance to call. Report the outcome with <see cref="ReportSuccess"/>, <see cref="ReportFailure"/> or
/// <see cref="ReportTimeout"/>.
/// </summary>
public sealed record Picked(ServiceInstance Instance);

/// <summary>No instance can be picked; <paramref name="Reason"/> says why (none registered, membership not known yet…).</summary>
public sealed record NoInstance(string Service, string Reason);

/// <summary>
/// A call to the instance <paramref name="InstanceId"/> failed: the balancer ejects it for a back-off. Given the
/// <paramref name="Address"/> called (the picked <see cref="ServiceInstance.Address"/>), a report that comes after the id
/// was registered again at another address is ignored, as it says nothing of the new one.
/// </summary>
public sealed record ReportFailure(string InstanceId, string? Address = null);

/// <summary>
/// A call to the instance <paramref name="InstanceId"/> got no answer within its deadline: the balancer ejects it once
/// <c>registry.balancing.ejection.consecutive-timeouts</c> in a row do (see <see cref="BalancedCall.TimedOut"/>). The
/// <paramref name="Address"/> called, when given, as for <see cref="ReportFailure"/>.
/// </summary>
public sealed record ReportTimeout(string InstanceId, string? Address = null);

/// <summary>
/// A call to the instance <paramref name="InstanceId"/> succeeded: its consecutive timeouts are reset, and its
/// consecutive failures unless it is ejected (a call that started before the ejection does not shorten the next back-off).
/// The <paramref name="Address"/> called, when given, as for <see cref="ReportFailure"/>.
/// </summary>
public sealed record ReportSuccess(string InstanceId, string? Address = null);

/// <summary>Asks a balancer actor for its <see cref="ServiceBalancer"/>, the hot-path reader of the same snapshot.</summary>
public sealed record GetBalancer
{
    /// <summary>The message.</summary>
    public static GetBalancer Instance { get; } = new();
}
