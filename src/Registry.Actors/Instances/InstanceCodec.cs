using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Registry;

/// <summary>The etcd key layout and the JSON value of an instance.</summary>
internal static class InstanceCodec
{
    /// <summary>The key prefix used when none is configured.</summary>
    public const string DefaultPrefix = "/services/";

    /// <summary>The key of one instance: <c>{prefix}{service}/{id}</c>.</summary>
    public static string Key(string prefix, string service, string id) => $"{prefix}{service}/{id}";

    /// <summary>The prefix under which every instance of <paramref name="service"/> lives.</summary>
    public static string ServicePrefix(string prefix, string service) => $"{prefix}{service}/";

    /// <summary>Encodes an instance as its UTF-8 JSON value.</summary>
    public static byte[] Encode(ServiceInstance instance) =>
        JsonSerializer.SerializeToUtf8Bytes(
            new Wire(instance.Service, instance.Id, instance.Address, instance.Metadata, instance.Weight, instance.Version,
                instance.RegisteredAt),
            InstanceJsonContext.Default.Wire);

    /// <summary>Decodes and validates a stored value; throws <see cref="FormatException"/> naming what is wrong.</summary>
    public static ServiceInstance Decode(ReadOnlySpan<byte> value)
    {
        Wire? wire;
        try
        {
            wire = JsonSerializer.Deserialize(value, InstanceJsonContext.Default.Wire);
        }
        catch (JsonException e)
        {
            throw new FormatException($"value is not valid instance JSON: {e.Message}", e);
        }
        if (wire is null) throw new FormatException("value is JSON null, expected an object");
        var instance = new ServiceInstance(
            wire.Service ?? throw new FormatException("value has no 'service'"),
            wire.Id ?? throw new FormatException("value has no 'id'"),
            wire.Address ?? throw new FormatException("value has no 'address'"),
            wire.Metadata?.ToImmutableSortedDictionary(StringComparer.Ordinal) ?? ServiceInstance.EmptyMetadata,
            wire.Weight ?? 1,
            wire.Version,
            wire.RegisteredAt ?? DateTimeOffset.MinValue);
        var problems = InstanceValidation.Check(instance);
        if (problems.Count > 0) throw new FormatException(string.Join("; ", problems));
        return instance;
    }

    internal sealed record Wire(
        string? Service,
        string? Id,
        string? Address,
        IDictionary<string, string>? Metadata,
        int? Weight,
        string? Version,
        DateTimeOffset? RegisteredAt);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(InstanceCodec.Wire))]
internal sealed partial class InstanceJsonContext : JsonSerializerContext;
