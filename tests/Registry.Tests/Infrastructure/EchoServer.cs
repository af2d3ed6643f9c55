using System.Net;
using System.Net.Sockets;

namespace Registry.Tests.Infrastructure;

/// <summary>A TCP server on a free loopback port that sends back every byte it receives; a target for proxy tests.</summary>
internal sealed class EchoServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;

    public EchoServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        _stop.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        var connections = new List<Task>();
        try
        {
            while (true)
            {
                connections.Add(EchoAsync(await _listener.AcceptTcpClientAsync(_stop.Token)));
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
            await Task.WhenAll(connections);
        }
    }

    private async Task EchoAsync(TcpClient client)
    {
        using (client)
        {
            try
            {
                var stream = client.GetStream();
                await stream.CopyToAsync(stream, _stop.Token);
                client.Client.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
            {
                // the peer reset or the server is stopping
            }
        }
    }
}
