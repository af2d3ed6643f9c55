using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Registry;

/// <summary>
/// Validation rules of the instance model; every message names the field and what is wrong, on one line: the text it
/// quotes has its control and format characters, unpaired surrogates and backslashes escaped (<c>\n</c>, <c>\\</c>).
/// </summary>
public static partial class InstanceValidation
{
    /// <summary>Most metadata entries an instance may carry.</summary>
    public const int MaxMetadataEntries = 64;

    /// <summary>Longest metadata value, in UTF-8 bytes.</summary>
    public const int MaxMetadataValueBytes = 1024;

    /// <summary>Longest encoded value, in UTF-8 bytes.</summary>
    public const int MaxEncodedBytes = 16 * 1024;

    /// <summary>Shortest lease TTL etcd accepts with default timing, in seconds.</summary>
    public const int MinTtlSeconds = 2;

    /// <summary>Longest lease TTL, in seconds.</summary>
    public const int MaxTtlSeconds = 3600;

    [GeneratedRegex(@"^[A-Za-z0-9._-]{1,128}\z")]
    private static partial Regex ServiceName();

    /// <summary>Returns null when <paramref name="service"/> is a valid service name, else what is wrong.</summary>
    public static string? CheckService(string? service) =>
        service is not null && ServiceName().IsMatch(service)
            ? null
            : $"service '{Printable.Excerpt(service)}': expected 1-128 characters of letters, digits, '.', '_' or '-'";

    /// <summary>
    /// Returns null when <paramref name="prefix"/> is a key prefix: a path that starts and ends with '/', with at least
    /// one segment, none empty, of printable characters without spaces; else what is wrong (without the key's name).
    /// </summary>
    internal static string? CheckPrefix(string? prefix)
    {
        if (string.IsNullOrEmpty(prefix) || !prefix.StartsWith('/') || !prefix.EndsWith('/'))
            return $"'{Printable.Excerpt(prefix)}': expected a path that starts and ends with '/'";
        if (prefix.Length == 1 || prefix.Contains("//", StringComparison.Ordinal) || prefix.Any(c => Printable.IsControlOrFormat(c) || char.IsWhiteSpace(c)) || !IsWellFormed(prefix))
            return $"'{Printable.Excerpt(prefix)}': expected one or more segments, none empty, without spaces, control or format characters or unpaired surrogates (such as /services/)";
        return null;
    }

    /// <summary>
    /// Returns null when <paramref name="id"/> is a valid instance id, else what is wrong. Control and format characters,
    /// line separators and white space at either end are refused: an id that shows like another (a zero-width space,
    /// <c>a</c> and <c>a </c>) or breaks a line would mislead wherever it is printed.
    /// </summary>
    public static string? CheckId(string? id) =>
        !string.IsNullOrEmpty(id) && id.Length <= 256 && !id.Contains('/') && !id.Any(Printable.IsControlOrFormat) && IsWellFormed(id)
        && !char.IsWhiteSpace(id[0]) && !char.IsWhiteSpace(id[^1])
            ? null
            : $"id '{Printable.Excerpt(id)}': expected 1-256 characters without '/', control or format characters, line separators, unpaired surrogates or white space at either end";

    /// <summary>
    /// True when <paramref name="text"/> has no unpaired surrogate: such text has no UTF-8 form, and encoding it would
    /// turn each one into U+FFFD, so two different ids would share one key.
    /// </summary>
    internal static bool IsWellFormed(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (!char.IsHighSurrogate(text[i]) || i + 1 == text.Length || !char.IsLowSurrogate(text[i + 1])) return false;
            i++;
        }
        return true;
    }

    // Four decimal numbers 0-255 without leading zeros: a URI reads "1.2.3", "010.0.0.1" or "0x7f.0.0.1" as other addresses.
    [GeneratedRegex(@"^((25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\z")]
    private static partial Regex DottedIPv4();

    // Labels of 1-63 ASCII letters, digits, '-' or '_', starting and ending with a letter or digit (a URI reads a name
    // with a label like "_a" as no DNS name, and fails on some: "1._a"); no empty label, no trailing dot.
    [GeneratedRegex(@"^[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?)*\z")]
    private static partial Regex DnsName();

    // A last label a URI takes for a number, making the whole name an IPv4 address ("1.0x7f" is 1.0.0.127).
    [GeneratedRegex(@"(^|\.)([0-9]+|0[xX][0-9A-Fa-f]*)\z")]
    private static partial Regex NumericLastLabel();

    [GeneratedRegex(@"^\[[0-9A-Fa-f:.]+\]\z")]
    private static partial Regex BracketedIPv6Text();

    /// <summary>
    /// Returns null when <paramref name="address"/> is host:port with port 1–65535 (no leading zeros), else what is
    /// wrong. The host is a DNS name (labels of ASCII letters, digits, '-' and '_' that start and end with a letter or
    /// digit, the last one not a number), a dotted IPv4 address (four numbers 0–255 without leading zeros) or a
    /// bracketed IPv6 address without zone: an accepted address is
    /// the same host and port as the URI <c>http://{address}</c> a channel connects to.
    /// </summary>
    public static string? CheckAddress(string? address)
    {
        string Problem() => $"address '{Printable.Excerpt(address)}': expected host:port with port 1-65535";
        if (string.IsNullOrEmpty(address)) return Problem();
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || colon == address.Length - 1) return Problem();
        var host = address[..colon];
        if (host.Contains(':') && !host.StartsWith('[')) return Problem();
        if (!int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
            return Problem();
        // 080 would name port 80 under another id: one endpoint registered twice.
        if (address[colon + 1] == '0') return $"address '{Printable.Excerpt(address)}': expected the port without leading zeros";
        return IsHost(host)
            ? null
            : $"address '{Printable.Excerpt(address)}': expected host:port with a DNS name, a dotted IPv4 address or a bracketed IPv6 address without zone as host";
    }

    private static bool IsHost(string host)
    {
        if (host.StartsWith('['))
            return BracketedIPv6Text().IsMatch(host) && IPAddress.TryParse(host.AsSpan(1, host.Length - 2), out var ip) && ip.AddressFamily == AddressFamily.InterNetworkV6;
        if (DottedIPv4().IsMatch(host)) return true;
        return host.Length <= 253 && DnsName().IsMatch(host) && !NumericLastLabel().IsMatch(host);
    }

    /// <summary>Returns null when <paramref name="ttlSeconds"/> is within 2–3600, else what is wrong.</summary>
    public static string? CheckTtl(long ttlSeconds) =>
        ttlSeconds is >= MinTtlSeconds and <= MaxTtlSeconds
            ? null
            : $"ttl {ttlSeconds}: expected whole seconds from {MinTtlSeconds} to {MaxTtlSeconds}";

    /// <summary>Returns null when <paramref name="weight"/> is at least 1, else what is wrong.</summary>
    public static string? CheckWeight(int weight) =>
        weight >= 1 ? null : $"weight {weight}: expected a positive integer";

    /// <summary>Returns every problem of <paramref name="instance"/>; empty when it is valid.</summary>
    public static IReadOnlyList<string> Check(ServiceInstance instance) => Check(instance, storedBytes: null);

    /// <summary>Returns every problem of <paramref name="instance"/>; empty when it is valid.</summary>
    /// <param name="instance">The instance.</param>
    /// <param name="storedBytes">
    /// The size of the stored value it was read from, if any. Encoding writes a character as at most a six-byte escape,
    /// so a value of at most <see cref="MaxEncodedBytes"/> / 8 encodes within the limit, field names included, and is
    /// not encoded again to measure.
    /// </param>
    internal static IReadOnlyList<string> Check(ServiceInstance instance, int? storedBytes)
    {
        var problems = new List<string>();
        void Add(string? problem)
        {
            if (problem is not null) problems.Add(problem);
        }

        Add(CheckService(instance.Service));
        Add(CheckId(instance.Id));
        Add(CheckAddress(instance.Address));
        Add(CheckWeight(instance.Weight));
        if (instance.Version is { } version && !IsWellFormed(version)) Add($"version '{Printable.Excerpt(version)}': has an unpaired surrogate");
        if (instance.Metadata is null)
        {
            Add("metadata: must not be null");
            return problems;
        }
        if (instance.Metadata.Count > MaxMetadataEntries)
        {
            // Each entry is not judged as well: a stored value may hold thousands, and the message would list them all.
            Add($"metadata: {instance.Metadata.Count} entries, at most {MaxMetadataEntries} allowed");
            return problems;
        }
        // A few entries' problems are named, the rest counted, so a bad value's message stays short.
        var entryProblems = 0;
        foreach (var (key, value) in instance.Metadata)
        {
            if (MetadataProblem(key, value) is { } problem && ++entryProblems <= MetadataProblemsNamed) Add(problem);
        }
        if (entryProblems > MetadataProblemsNamed) Add($"metadata: {entryProblems - MetadataProblemsNamed} more entries with problems");
        if (problems.Count == 0 && !(storedBytes <= MaxEncodedBytes / 8))
        {
            var size = InstanceCodec.Encode(instance).Length;
            if (size > MaxEncodedBytes) Add($"instance: encoded value is {size} bytes, at most {MaxEncodedBytes} allowed");
        }
        return problems;
    }

    /// <summary>How many metadata entries' problems a message names.</summary>
    private const int MetadataProblemsNamed = 5;

    private static string? MetadataProblem(string key, string? value)
    {
        if (string.IsNullOrEmpty(key)) return "metadata: empty key";
        if (!IsWellFormed(key)) return $"metadata '{Printable.Excerpt(key)}': key with an unpaired surrogate";
        if (value is null) return $"metadata '{Printable.Excerpt(key)}': null value";
        if (!IsWellFormed(value)) return $"metadata '{Printable.Excerpt(key)}': value with an unpaired surrogate";
        return System.Text.Encoding.UTF8.GetByteCount(value) > MaxMetadataValueBytes
            ? $"metadata '{Printable.Excerpt(key)}': value longer than {MaxMetadataValueBytes} bytes"
            : null;
    }
}
