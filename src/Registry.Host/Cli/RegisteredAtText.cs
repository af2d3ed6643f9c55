using System.Globalization;

namespace Registry.Host.Cli;

/// <summary>An instance's registration time as the readable lines show it.</summary>
internal static class RegisteredAtText
{
    /// <summary>UTC to the second; <c>-</c> for a value written without one (by another tool), which reads as the earliest time.</summary>
    public static string Of(ServiceInstance instance) =>
        instance.RegisteredAt == DateTimeOffset.MinValue
            ? "-"
            : instance.RegisteredAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
