using System.Collections.Immutable;

namespace Registry;

/// <summary>One registered instance of a service: what is stored as JSON under its etcd key.</summary>
/// <param name="Service">Service name: 1–128 letters, digits, '.', '_' or '-'.</param>
/// <param name="Id">Instance id, unique within the service; defaults to <paramref name="Address"/>.</param>
/// <param name="Address">Where the instance listens, as host:port.</param>
/// <param name="Metadata">Free-form string pairs (at most 64, values at most 1 KiB).</param>
/// <param name="Weight">Relative share of calls for weighted balancing; at least 1.</param>
/// <param name="Version">Optional version of the service build.</param>
/// <param name="RegisteredAt">When the instance registered.</param>
public sealed record ServiceInstance(
    string Service,
    string Id,
    string Address,
    ImmutableSortedDictionary<string, string> Metadata,
    int Weight,
    string? Version,
    DateTimeOffset RegisteredAt)
{
    /// <summary>An empty metadata map ordered by ordinal key comparison.</summary>
    public static readonly ImmutableSortedDictionary<string, string> EmptyMetadata =
        ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);

    /// <summary>Creates an instance with no metadata and weight 1; its id is <paramref name="id"/>, else its address.</summary>
    public static ServiceInstance Create(string service, string address, string? id = null) =>
        new(service, id ?? address, address, EmptyMetadata, 1, null, DateTimeOffset.UtcNow);

    /// <summary>
    /// Whether <paramref name="other"/> registers the same thing: equal but for <see cref="RegisteredAt"/>, which
    /// <see cref="Create"/> stamps on every call, so registering an address again is not taken for an update.
    /// </summary>
    internal bool IsSameRegistration(ServiceInstance other) => Equals(other with { RegisteredAt = RegisteredAt });

    /// <inheritdoc />
    public bool Equals(ServiceInstance? other) =>
        other is not null
        && Service == other.Service && Id == other.Id && Address == other.Address
        && Weight == other.Weight && Version == other.Version && RegisteredAt == other.RegisteredAt
        && Metadata.Count == other.Metadata.Count
        && Metadata.All(kv => other.Metadata.TryGetValue(kv.Key, out var v) && v == kv.Value);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(Service, Id, Address, Weight, Version, RegisteredAt, Metadata.Count);

    /// <summary>Shows the metadata's pairs rather than the dictionary's type name.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder)
    {
        builder.Append("Service = ").Append(Service).Append(", Id = ").Append(Id).Append(", Address = ").Append(Address)
            .Append(", Metadata = ");
        // Null only in an instance built by hand, which validation refuses saying so.
        if (Metadata is null) builder.Append("null");
        else builder.Append("{ ").AppendJoin(", ", Metadata.Select(kv => $"{kv.Key} = {kv.Value}")).Append(Metadata.IsEmpty ? "}" : " }");
        builder.Append(", Weight = ").Append(Weight).Append(", Version = ").Append(Version)
            .Append(", RegisteredAt = ").Append(RegisteredAt.ToString("O", System.Globalization.CultureInfo.InvariantCulture));
        return true;
    }
}
