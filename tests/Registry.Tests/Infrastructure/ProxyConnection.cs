using System.Net.Sockets;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// One client connection through a <see cref="FaultProxy"/>: the upstream connection and a byte pump each way.
/// Bytes read while the gate is closed stay in the pump's buffer (and the kernel's) until it opens again.
/// </summary>
internal sealed class ProxyConnection
{
    private const int BufferSize = 64 * 1024;

    private readonly Socket _client;
    private readonly Socket _upstream;
    private readonly FlowGate _gate;
    // Never disposed: Reset may cancel it at any time, and a plain token source holds nothing to release.
    private readonly CancellationTokenSource _abort = new();
    private int _closed;

    public ProxyConnection(Socket client, FlowGate gate)
    {
        _client = client;
        _gate = gate;
        _upstream = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        _client.NoDelay = true;
    }

    /// <summary>Connects upstream (once the gate is open) and forwards until both sides are done or the connection is reset.</summary>
    public async Task RunAsync(string targetHost, int targetPort)
    {
        var ct = _abort.Token;
        try
        {
            // A held network lets nothing through, not even the connection attempt.
            await _gate.WaitOpenAsync(ct);
            await _upstream.ConnectAsync(targetHost, targetPort, ct);
            await Task.WhenAll(PumpAsync(_client, _upstream, ct), PumpAsync(_upstream, _client, ct));
            Close(reset: false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // One side reset, upstream refused, or we were told to reset: reset both sides, as a broken link would.
            Close(reset: true);
        }
    }

    /// <summary>Resets both sides with RST and stops the pumps; buffered bytes are dropped.</summary>
    public void Reset()
    {
        _abort.Cancel();
        Close(reset: true);
    }

    private async Task PumpAsync(Socket from, Socket to, CancellationToken ct)
    {
        var buffer = new byte[BufferSize];
        try
        {
            while (true)
            {
                var read = await from.ReceiveAsync(buffer, SocketFlags.None, ct);
                await _gate.WaitOpenAsync(ct);
                if (read == 0)
                {
                    to.Shutdown(SocketShutdown.Send); // pass the half-close on; the other direction may still flow
                    return;
                }

                for (var sent = 0; sent < read;)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, ct);
                }
            }
        }
        catch
        {
            Reset(); // a failure either way breaks the whole connection, and unblocks the other pump
            throw;
        }
    }

    private void Close(bool reset)
    {
        if (Interlocked.Exchange(ref _closed, 1) == 1)
        {
            return;
        }

        foreach (var socket in new[] { _client, _upstream })
        {
            if (reset)
            {
                // Linger on with a zero timeout makes close() send RST instead of FIN.
                TrySetLinger(socket);
            }

            socket.Dispose();
        }
    }

    private static void TrySetLinger(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // never connected or already gone: nothing to reset
        }
    }
}
