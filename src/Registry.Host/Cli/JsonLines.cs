using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Registry.Host.Cli;

/// <summary>The one-object-per-line JSON the commands print on stdout.</summary>
internal static class JsonLines
{
    // Output goes to terminals and pipes, never into HTML: keep '+', '<' or non-ASCII text readable.
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>
    /// <c>{"event":…,"service":…,"id":…,"key":…,"lease":"&lt;hex&gt;","detail":…,"time":…}</c>; lease is "0" before
    /// one was granted, detail null when there is nothing to add.
    /// </summary>
    public static string Event(RegistrationEvent e, DateTimeOffset time) => Write(json =>
    {
        json.WriteString("event", Registration.RegistrationEvents.Name(e.Kind));
        json.WriteString("service", e.Instance.Service);
        json.WriteString("id", e.Instance.Id);
        json.WriteString("key", e.Key);
        json.WriteString("lease", e.LeaseId.ToString("x"));
        json.WriteString("detail", e.Detail);
        json.WriteString("time", time);
    });

    /// <summary>An instance as stored, plus the key it lives under; <c>registeredAt</c> is null when the value has none.</summary>
    public static string Instance(ServiceInstance instance, string key) => Write(json =>
    {
        json.WriteString("service", instance.Service);
        json.WriteString("id", instance.Id);
        json.WriteString("address", instance.Address);
        WriteMetadata(json, instance);
        json.WriteNumber("weight", instance.Weight);
        json.WriteString("version", instance.Version);
        if (instance.RegisteredAt == DateTimeOffset.MinValue) json.WriteNull("registeredAt");
        else json.WriteString("registeredAt", instance.RegisteredAt);
        json.WriteString("key", key);
    });

    /// <summary><c>{"calls":N,"failures":F,"byInstance":{"&lt;id&gt;":count,…},"p50Ms":…,"p99Ms":…}</c>, the last line of <c>call --json</c>.</summary>
    public static string Summary(Client.CallSummary summary) => Write(json =>
    {
        json.WriteNumber("calls", summary.Calls);
        json.WriteNumber("failures", summary.Failures);
        json.WriteStartObject("byInstance");
        foreach (var (id, count) in summary.ByInstance) json.WriteNumber(id, count);
        json.WriteEndObject();
        json.WriteNumber("p50Ms", summary.P50Ms);
        json.WriteNumber("p99Ms", summary.P99Ms);
    });

    /// <summary>
    /// One line of <c>registry watch --json</c>:
    /// <c>{"event":"snapshot"|"up"|"down"|"update","service":…,"id":…,"address":…,"revision":…}</c>, followed by
    /// <c>"weight"</c> and <c>"metadata"</c> except on a down (what left needs no more than its name).
    /// </summary>
    public static string Membership(MembershipChange change) => Write(json =>
    {
        json.WriteString("event", change.Kind.ToString().ToLowerInvariant());
        json.WriteString("service", change.Instance.Service);
        json.WriteString("id", change.Instance.Id);
        json.WriteString("address", change.Instance.Address);
        json.WriteNumber("revision", change.Revision);
        if (change.Kind == MembershipChangeKind.Down) return;
        json.WriteNumber("weight", change.Instance.Weight);
        WriteMetadata(json, change.Instance);
    });

    private static void WriteMetadata(Utf8JsonWriter json, ServiceInstance instance)
    {
        json.WriteStartObject("metadata");
        foreach (var (name, value) in instance.Metadata) json.WriteString(name, value);
        json.WriteEndObject();
    }

    private static string Write(Action<Utf8JsonWriter> body)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartObject();
            body(json);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }
}
