using System.Globalization;
using Akka.Configuration;

namespace Registry.Hosting;

/// <summary>
/// Code configuration of the registry; what is set here overrides the <c>registry</c> HOCON section, wherever the
/// application adds that HOCON.
/// </summary>
public sealed class ServiceRegistryOptions
{
    /// <summary>
    /// etcd client URLs, e.g. <c>http://127.0.0.1:2379</c>; null keeps the configured ones. The list is copied when
    /// set: changing it afterwards changes nothing.
    /// </summary>
    public IReadOnlyList<string>? Endpoints
    {
        get;
        set => field = value?.ToArray();
    }

    /// <summary>Key prefix, starting and ending with '/'; null keeps the configured one.</summary>
    public string? Prefix { get; set; }

    /// <summary>Default lease TTL in whole seconds (2–3600); null keeps the configured one.</summary>
    public long? TtlSeconds { get; set; }

    /// <summary>A copy to configure, kept only if it is valid.</summary>
    internal ServiceRegistryOptions Clone() => (ServiceRegistryOptions)MemberwiseClone();

    /// <summary>Renders the options that are set as HOCON under <c>registry</c>.</summary>
    internal string ToHocon() => "registry {\n" + string.Concat(SetOptions().Select(o => $"  {o.Hocon}\n")) + "}";

    /// <summary>
    /// Fails with a <see cref="ConfigurationException"/> naming the option and its HOCON key when an option that is
    /// set is not valid. Each is checked alone over the defaults, so the error is that option's.
    /// </summary>
    internal void Validate()
    {
        foreach (var (option, hocon) in SetOptions())
        {
            try
            {
                RegistrySettings.From(ConfigurationFactory.ParseString($"registry {{\n  {hocon}\n}}"));
            }
            catch (ConfigurationException e)
            {
                throw new ConfigurationException($"{nameof(ServiceRegistryOptions)}.{option}: {e.Message}", e);
            }
        }
    }

    private IEnumerable<(string Option, string Hocon)> SetOptions()
    {
        if (Endpoints is not null) yield return (nameof(Endpoints), $"etcd.endpoints = [{string.Join(", ", Endpoints.Select(Quote))}]");
        if (Prefix is not null) yield return (nameof(Prefix), $"prefix = {Quote(Prefix)}");
        if (TtlSeconds is { } ttl) yield return (nameof(TtlSeconds), $"ttl = {ttl.ToString(CultureInfo.InvariantCulture)}s");
    }

    // A null string is rendered as HOCON's null, which the settings then refuse naming the key.
    private static string Quote(string? value) => value is null ? "null" : "\"" + value.Replace("\\", "\\\\").Replace("\"", "\\\"") + "\"";
}
