using System.Diagnostics.Metrics;

namespace Registry;

/// <summary>The registry's instruments, on the meter named <c>Registry</c>.</summary>
internal static class RegistryMetrics
{
    public const string MeterName = "Registry";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Values under the prefix that were not a valid instance and were skipped.</summary>
    public static readonly Counter<long> SkippedValues =
        Meter.CreateCounter<long>("registry.discovery.skipped_values", description: "values under the prefix skipped because they are not a valid instance");
}
