namespace Registry;

public sealed partial class RegistrySupervisor
{
    /// <summary>
    /// Deregisters every instance and refuses new ones from then on; each request, the first or a later one, is
    /// answered with <see cref="AllDeregistered"/> once none is left.
    /// </summary>
    internal sealed record DeregisterAll
    {
        public static readonly DeregisterAll Instance = new();
    }

    /// <summary>Every instance registered by this supervisor has been deregistered.</summary>
    internal sealed record AllDeregistered
    {
        public static readonly AllDeregistered Instance = new();
    }

    private sealed record RestartChild(string Key);

    /// <summary>The lease of a registration whose actor was gone has been revoked (or could not be: <paramref name="Failure"/>).</summary>
    private sealed record OrphanRevoked(string Key, string? Failure);
}
