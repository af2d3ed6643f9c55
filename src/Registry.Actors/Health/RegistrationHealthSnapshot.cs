using System.Collections.Immutable;

namespace Registry.Health;

/// <summary>Where one registration stands, as its last <see cref="RegistrationEvent"/> tells.</summary>
internal enum RegistrationState
{
    /// <summary>The key is written and its lease renewed (registered, re-registered, or renewals recovered).</summary>
    Held,

    /// <summary>etcd has not answered the registration yet (at start, or again after the lease or key was lost).</summary>
    Delayed,

    /// <summary>Renewals fail; the lease has not been seen to expire.</summary>
    RenewFailing,

    /// <summary>The lease is gone; a new one is being granted and the key written again.</summary>
    LeaseLost,

    /// <summary>A newer process took the id; this one stopped registering it.</summary>
    Conflict,

    /// <summary>The registration's actor crashed and waits for its restart; its lease is not renewed meanwhile.</summary>
    Restarting,
}

/// <summary>
/// The state of every registration of the actor system, by etcd key: immutable, replaced as a whole on each change,
/// so a reader (the health check) needs no lock and no message round trip.
/// </summary>
internal sealed record RegistrationHealthSnapshot(ImmutableSortedDictionary<string, RegistrationState> Registrations)
{
    public static readonly RegistrationHealthSnapshot Empty = new(ImmutableSortedDictionary.Create<string, RegistrationState>(StringComparer.Ordinal));

    /// <summary>The snapshot after <paramref name="e"/>: a deregistered key is forgotten, any other takes the event's state.</summary>
    public RegistrationHealthSnapshot Apply(RegistrationEvent e)
    {
        if (e.Kind == RegistrationEventKind.Deregistered)
            return Registrations.ContainsKey(e.Key) ? new(Registrations.Remove(e.Key)) : this;
        var state = e.Kind switch
        {
            RegistrationEventKind.Delayed => RegistrationState.Delayed,
            RegistrationEventKind.RenewFailed => RegistrationState.RenewFailing,
            RegistrationEventKind.LeaseLost => RegistrationState.LeaseLost,
            RegistrationEventKind.Conflict => RegistrationState.Conflict,
            RegistrationEventKind.Restarting => RegistrationState.Restarting,
            _ => RegistrationState.Held,
        };
        return Registrations.TryGetValue(e.Key, out var current) && current == state ? this : new(Registrations.SetItem(e.Key, state));
    }
}
