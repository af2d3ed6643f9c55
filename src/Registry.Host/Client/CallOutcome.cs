namespace Registry.Host.Client;

/// <summary>The end of one call placed by <see cref="BalancedUserClient"/>, retries included.</summary>
/// <param name="Succeeded">True when an instance answered the call.</param>
/// <param name="InstanceId">The instance that answered; null when the call failed.</param>
/// <param name="Attempts">Attempts made, the first included.</param>
/// <param name="LatencyMs">Time from the first attempt to the end, in milliseconds.</param>
/// <param name="Error">Why the call failed (the last attempt's error); null when it succeeded.</param>
internal readonly record struct CallOutcome(bool Succeeded, string? InstanceId, int Attempts, double LatencyMs, string? Error);
