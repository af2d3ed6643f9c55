namespace Registry.Host.Cli;

/// <summary>How the commands report a registration the registry did not take: the line they print and their exit code.</summary>
internal static class RegistrationFailures
{
    /// <summary>"register failed: …" for the registry's own error, "register refused: …" for any other kind.</summary>
    public static string Describe(this RegistrationFailed failure) => $"register {(IsError(failure) ? "failed" : "refused")}: {failure.Reason}";

    /// <summary>1 for the registry's own error; 2 for a refusal, which is about the arguments.</summary>
    public static int ExitCode(this RegistrationFailed failure) => IsError(failure) ? RegistryCommand.Failed : RegistryCommand.Usage;

    private static bool IsError(RegistrationFailed failure) => failure.Kind == RegistrationFailure.Error;
}
