using Akka.Actor;
using Grpc.Net.Client.Balancer;

namespace Registry;

/// <summary>
/// The Grpc.Net.Client resolver of the <c>registry</c> scheme: a channel on <c>registry:///user</c> resolves to the
/// addresses of the registered instances of the service <c>user</c> and follows every membership change, pushed by
/// the registry's discovery actor (no polling). Register it with
/// <see cref="RegistryResolverExtensions.AddRegistryResolver"/> or <see cref="RegistryResolverExtensions.UseRegistryResolver"/>,
/// and give the channel a <c>round_robin</c> service config to spread calls over the instances.
/// </summary>
/// <remarks>
/// While etcd is unreachable the channel keeps the last known addresses. When no instance is registered the resolver
/// reports <c>Unavailable</c> with a message that names the service (Grpc.Net.Client keeps connections it already
/// has ready until they fail, as it does for an empty result).
/// </remarks>
public sealed class RegistryResolverFactory : ResolverFactory
{
    /// <summary>The URI scheme this factory resolves: <c>registry</c>.</summary>
    public const string Scheme = "registry";

    private readonly ActorSystem _system;

    /// <summary>A factory whose resolvers follow the registry of <paramref name="system"/>.</summary>
    public RegistryResolverFactory(ActorSystem system) => _system = system ?? throw new ArgumentNullException(nameof(system));

    /// <inheritdoc />
    public override string Name => Scheme;

    /// <inheritdoc />
    /// <exception cref="ArgumentException">The address names no valid service; the message says what is wrong.</exception>
    public override Resolver Create(ResolverOptions options) =>
        new RegistryResolver(ServiceOf(options.Address), _system);

    /// <summary>
    /// The service of <c>registry:///S</c> (or <c>registry://S</c>), read as written: <see cref="Uri"/> lower-cases the
    /// host and removes <c>.</c> and <c>..</c> segments from the path, and service names are case-sensitive and may be
    /// <c>.</c> or <c>..</c>.
    /// </summary>
    internal static string ServiceOf(Uri address)
    {
        var (host, path) = AsWritten(address);
        path = path.Trim('/');
        var service = path.Length > 0 ? Uri.UnescapeDataString(path) : host;
        return InstanceValidation.CheckService(service) is { } problem
            ? throw new ArgumentException($"{address.OriginalString}: expected {Scheme}:///SERVICE; {problem}", nameof(address))
            : service;
    }

    /// <summary>The host and the path of <paramref name="address"/> as written, the query and fragment left out.</summary>
    private static (string Host, string Path) AsWritten(Uri address)
    {
        var written = address.OriginalString;
        var start = written.IndexOf("://", StringComparison.Ordinal);
        if (start < 0) return (address.Host, address.AbsolutePath);
        start += 3;
        var end = written.IndexOfAny(['?', '#'], start);
        var rest = written[start..(end < 0 ? written.Length : end)];
        var slash = rest.IndexOf('/');
        return slash < 0 ? (rest, "") : (rest[..slash], rest[slash..]);
    }
}
