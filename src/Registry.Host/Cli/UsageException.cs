namespace Registry.Host.Cli;

/// <summary>A bad argument found after parsing; the command prints <c>registry: {Message}</c> and exits 2.</summary>
internal sealed class UsageException(string message) : Exception(message);
