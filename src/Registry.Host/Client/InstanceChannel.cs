using Grpc.Net.Client;
using Registry.Host.Sample;

namespace Registry.Host.Client;

/// <summary>A channel to one instance address and the UserService client on it.</summary>
internal sealed class InstanceChannel : IDisposable
{
    private InstanceChannel(string address, GrpcChannel channel)
    {
        Address = address;
        Channel = channel;
        Client = new UserService.UserServiceClient(channel);
    }

    public string Address { get; }

    public GrpcChannel Channel { get; }

    public UserService.UserServiceClient Client { get; }

    public static InstanceChannel Create(string address, UserCallSettings settings) =>
        new(address, GrpcChannel.ForAddress($"http://{address}", new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                // A connect that hangs (a host that vanished) fails as Unavailable before the attempt's deadline.
                ConnectTimeout = settings.ConnectTimeout,
                EnableMultipleHttp2Connections = true,
            },
            DisposeHttpClient = true,
            // An instance back at the same address is reached again soon; meanwhile calls to it fail fast.
            InitialReconnectBackoff = TimeSpan.FromMilliseconds(100),
            MaxReconnectBackoff = TimeSpan.FromSeconds(1),
        }));

    public void Dispose() => Channel.Dispose();
}
