namespace Registry;

public sealed partial class RegistrySupervisor
{
    /// <summary>Deregisters every instance (CoordinatedShutdown sends it); answered with <see cref="AllDeregistered"/>.</summary>
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
}
