using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Registry.Host.Cli;
using Registry.Host.Sample;

namespace Registry.Tests.Serve;

/// <summary>Calls to the sample UserService and the options of in-process sample servers.</summary>
internal static class UserCalls
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    /// <summary>
    /// One GetUserInfo over a new channel, hence a new TCP connection: it succeeds only if the server still accepts.
    /// No retry and no wait for a connection: a refused connection fails at once with <see cref="StatusCode.Unavailable"/>.
    /// </summary>
    public static async Task<GetUserInfoResponse> OnNewConnectionAsync(string address, long id, int delayMs = 0)
    {
        using var channel = Channel(address);
        return await new UserService.UserServiceClient(channel).GetUserInfoAsync(
            new GetUserInfoRequest { Id = id, DelayMs = delayMs }, deadline: DateTime.UtcNow + Deadline);
    }

    public static GrpcChannel Channel(string address) =>
        GrpcChannel.ForAddress($"http://{address}", new GrpcChannelOptions { MaxRetryAttempts = 0 });

    /// <summary>A unique service name, so tests sharing an etcd never see each other's instances.</summary>
    public static string UniqueService(string name) => $"{name}-{Guid.NewGuid():N}"[..24];

    /// <summary>A server for <paramref name="service"/> on a free loopback port, registered in <paramref name="etcd"/>.</summary>
    public static SampleServerOptions Options(string etcd, string service, TimeSpan drainDelay) => new()
    {
        Common = new CommonSettings([new Uri(etcd)], InstanceCodec.DefaultPrefix, LogLevel.Warning),
        Service = service,
        DrainDelay = drainDelay,
        ShutdownTimeout = TimeSpan.FromSeconds(20),
    };

    /// <summary>Waits until <paramref name="condition"/> holds, checking every few milliseconds.</summary>
    public static async Task EventuallyAsync(Func<bool> condition, string what)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            if (timeout.IsCancellationRequested) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(10, CancellationToken.None);
        }
    }
}
