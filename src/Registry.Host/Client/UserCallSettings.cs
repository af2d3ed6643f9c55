namespace Registry.Host.Client;

/// <summary>
/// How the client path places one call: each attempt has its own deadline; a call whose instance is gone is tried
/// again on another instance while attempts and time remain.
/// </summary>
/// <param name="AttemptDeadline">Deadline of one attempt (the per-call deadline of gRPC).</param>
/// <param name="ConnectTimeout">How long connecting to an instance may take before the attempt counts as "instance gone".</param>
/// <param name="MaxAttempts">Attempts per call, the first included.</param>
/// <param name="Budget">Time from the first attempt after which no further attempt starts.</param>
internal sealed record UserCallSettings(TimeSpan AttemptDeadline, TimeSpan ConnectTimeout, int MaxAttempts, TimeSpan Budget)
{
    /// <summary>2 s per attempt, 1 s to connect, 3 attempts within 5 s.</summary>
    public static UserCallSettings Default { get; } = new(TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(1), 3, TimeSpan.FromSeconds(5));

    /// <summary>The defaults with <paramref name="deadline"/> per attempt; the budget leaves room for every attempt.</summary>
    public static UserCallSettings WithDeadline(TimeSpan deadline) => Default with
    {
        AttemptDeadline = deadline,
        ConnectTimeout = deadline < Default.ConnectTimeout ? deadline : Default.ConnectTimeout,
        Budget = deadline * Default.MaxAttempts > Default.Budget ? deadline * Default.MaxAttempts : Default.Budget,
    };

    /// <summary>How long a channel whose instance left stays usable: calls that picked it before may still run.</summary>
    public TimeSpan RetireGrace => Budget + AttemptDeadline;
}
