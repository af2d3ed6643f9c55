using System.Globalization;
using System.Text;

namespace Registry.Hosting;

/// <summary>Code configuration of the registry; what is set here overrides the <c>registry</c> HOCON section.</summary>
public sealed class ServiceRegistryOptions
{
    /// <summary>etcd client URLs, e.g. <c>http://127.0.0.1:2379</c>; null keeps the configured ones.</summary>
    public IReadOnlyList<string>? Endpoints { get; set; }

    /// <summary>Key prefix, starting and ending with '/'; null keeps the configured one.</summary>
    public string? Prefix { get; set; }

    /// <summary>Default lease TTL in whole seconds (2–3600); null keeps the configured one.</summary>
    public long? TtlSeconds { get; set; }

    /// <summary>Renders the options that are set as HOCON under <c>registry</c>.</summary>
    public string ToHocon()
    {
        var hocon = new StringBuilder("registry {\n");
        if (Endpoints is not null)
            hocon.Append("  etcd.endpoints = [").AppendJoin(", ", Endpoints.Select(Quote)).Append("]\n");
        if (Prefix is not null) hocon.Append("  prefix = ").Append(Quote(Prefix)).Append('\n');
        if (TtlSeconds is { } ttl) hocon.Append("  ttl = ").Append(ttl.ToString(CultureInfo.InvariantCulture)).Append("s\n");
        return hocon.Append('}').ToString();
    }

    private static string Quote(string value) => "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
