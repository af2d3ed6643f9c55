using System.Diagnostics.Metrics;
using Registry.Registration;

namespace Registry;

/// <summary>The registry's instruments, on the meter named <c>Registry</c>.</summary>
internal static class RegistryMetrics
{
    public const string MeterName = "Registry";

    private static readonly Meter Meter = new(MeterName);

    /// <summary>Values under the prefix that were not a valid instance and were skipped.</summary>
    public static readonly Counter<long> SkippedValues =
        Meter.CreateCounter<long>("registry.discovery.skipped_values", unit: "{value}", description: "values under the prefix skipped because they are not a valid instance");

    private static readonly Counter<long> RegistrationEventCounter =
        Meter.CreateCounter<long>("registry.registration.events", unit: "{event}", description: "registration events by kind (registered, renew-failed, lease-lost, conflict, ...) and service");

    private static readonly Counter<long> StaleViews =
        Meter.CreateCounter<long>("registry.discovery.stale_views", unit: "{view}", description: "times a service's view turned stale because etcd could not be read");

    /// <summary>Counts <paramref name="e"/> under its kind as the CLI prints it (<c>renew-failed</c>) and its service.</summary>
    public static void Count(RegistrationEvent e) => RegistrationEventCounter.Add(1,
        new KeyValuePair<string, object?>("kind", RegistrationEvents.Name(e.Kind)),
        new KeyValuePair<string, object?>("service", e.Instance.Service));

    /// <summary>Counts a view of <paramref name="service"/> turning stale.</summary>
    public static void CountStale(string service) => StaleViews.Add(1, new KeyValuePair<string, object?>("service", service));
}
