using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Registry.Etcd;

/// <summary>
/// Builds the one gRPC channel an actor system uses to reach etcd: every endpoint behind a static resolver
/// with round-robin over the reachable ones (a dead member is skipped, and so is one <see cref="SuspectMembers"/>
/// suspects of hanging while another is ready), and short reconnect back-off so a healed cut is noticed quickly.
/// </summary>
internal static class EtcdChannel
{
    public static GrpcChannel Create(RegistrySettings settings, SuspectMembers suspects)
    {
        var addresses = settings.Endpoints.Select(e => new BalancerAddress(e.Host, e.Port)).ToArray();
        var services = new ServiceCollection()
            .AddSingleton<ResolverFactory>(new StaticResolverFactory(_ => addresses))
            .AddSingleton<LoadBalancerFactory>(new EtcdBalancerFactory(suspects))
            .BuildServiceProvider();
        var secure = settings.Endpoints[0].Scheme == "https";
        return GrpcChannel.ForAddress("static:///etcd", new GrpcChannelOptions
        {
            Credentials = secure ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure,
            ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new LoadBalancingConfig(EtcdBalancerFactory.PolicyName) } },
            ServiceProvider = services,
            InitialReconnectBackoff = settings.ReconnectMinBackoff,
            MaxReconnectBackoff = settings.ReconnectMaxBackoff,
            // etcd answers a listing, or a watch catching up on many changes, in one message however large; grpc-dotnet
            // would refuse one over 4 MB, every time. etcd's Go client lifts the limit too.
            MaxReceiveMessageSize = null,
            // Disposing the channel closes its connections; left to the pool, each stayed open (and pinged) ~75 s.
            DisposeHttpClient = true,
            HttpHandler = new TrailersOnlyHandler(new KeepAliveCoalescingHandler(new SocketsHttpHandler
            {
                ConnectTimeout = settings.CallTimeout,
                EnableMultipleHttp2Connections = true,
                // Detects a peer that vanished without closing the connection (a partitioned member) under a stream or
                // call; not more often than etcd's default --grpc-keepalive-min-time of 5s, and only while a call is
                // open: etcd refuses pings on a connection without one (grpc-go's PermitWithoutStream = false), and
                // closes it with GOAWAY at the third such ping (ChannelKeepAliveTests).
                KeepAlivePingDelay = TimeSpan.FromSeconds(10),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(5),
                KeepAlivePingPolicy = HttpKeepAlivePingPolicy.WithActiveRequests,
            })),
        });
    }

    /// <summary>
    /// Metadata for streams: etcd then refuses to serve them from a member cut off from the majority,
    /// as etcd's Go client asks (WithRequireLeader).
    /// </summary>
    public static Metadata RequireLeader() => new() { { "hasleader", "true" } };

    /// <summary>
    /// The metadata of watch stream <paramref name="watch"/>: <see cref="RequireLeader"/>, and the id by which
    /// <see cref="SuspectMembers"/> records the member it is put on (etcd ignores metadata it does not know).
    /// </summary>
    public static Metadata Watch(long watch)
    {
        var metadata = RequireLeader();
        metadata.Add(WatchIdHeader, watch.ToString(CultureInfo.InvariantCulture));
        return metadata;
    }

    /// <summary>The id <see cref="Watch"/> gave a watch stream's request, 0 when it has none.</summary>
    public static long WatchIdOf(HttpRequestMessage request) =>
        request.Headers.TryGetValues(WatchIdHeader, out var values) && long.TryParse(values.FirstOrDefault(), CultureInfo.InvariantCulture, out var id) ? id : 0;

    private const string WatchIdHeader = "registry-watch-id";
}
