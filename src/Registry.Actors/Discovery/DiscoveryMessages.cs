namespace Registry;

/// <summary>
/// Subscribes the sender to one service's membership: it gets a <see cref="MembershipSnapshot"/> first (preceded by a
/// <see cref="MembershipStale"/> while etcd cannot be read before the first listing), then every
/// <see cref="MembershipEvent"/> in order, until it stops or sends <see cref="UnsubscribeMembership"/>. Sent without a
/// sender, it is ignored with a warning: nobody could receive the events or end the subscription.
/// Sent to the registry's discovery actor (<c>ServiceRegistry.Discovery</c>), which starts the service's watcher on first use. A subscriber
/// must accept a new snapshot at any time (after a watcher restart) as a replacement of its view.
/// </summary>
public sealed record SubscribeMembership(string Service);

/// <summary>Stops the sender's subscription to a service's membership.</summary>
public sealed record UnsubscribeMembership(string Service);
