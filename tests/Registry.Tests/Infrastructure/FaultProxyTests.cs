using System.Net.Sockets;

namespace Registry.Tests.Infrastructure;

/// <summary>The proxy at the TCP level, against an echo server.</summary>
public sealed class FaultProxyTests : IAsyncLifetime
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private readonly EchoServer _echo = new();
    private readonly FaultProxy _proxy;

    public FaultProxyTests()
    {
        _proxy = new FaultProxy(_echo.Port);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _proxy.DisposeAsync();
        await _echo.DisposeAsync();
    }

    [Fact]
    public async Task Pass_forwards_every_byte_both_ways()
    {
        using var client = await ConnectAsync();
        var sent = new byte[4 * 1024 * 1024];
        Random.Shared.NextBytes(sent);

        var stream = client.GetStream();
        var received = new byte[sent.Length];
        var reading = stream.ReadExactlyAsync(received).AsTask();
        await stream.WriteAsync(sent);

        await reading.WaitAsync(Patience);
        Assert.Equal(sent, received);
    }

    [Fact]
    public async Task Hold_keeps_bytes_of_open_and_new_connections_until_heal()
    {
        using var open = await ConnectAsync();
        await AssertEchoesAsync(open, "before");

        _proxy.Hold();
        using var fresh = await ConnectAsync();
        await open.GetStream().WriteAsync("held-1"u8.ToArray());
        await open.GetStream().WriteAsync("held-2"u8.ToArray());
        await fresh.GetStream().WriteAsync("new"u8.ToArray());
        var openReply = ReadAsync(open, "held-1held-2".Length);
        var freshReply = ReadAsync(fresh, "new".Length);
        // The window is under test: no byte may pass for its length (HoldingAsync returns once either side waits).
        await Task.Delay(Quiet);
        Assert.False(openReply.IsCompleted, "bytes went through a held proxy");
        Assert.False(freshReply.IsCompleted, "bytes of a new connection went through a held proxy");

        _proxy.Heal();

        Assert.Equal("held-1held-2", await openReply.WaitAsync(Patience));
        Assert.Equal("new", await freshReply.WaitAsync(Patience));
        Assert.Equal(2, _proxy.AcceptedConnections);
        Assert.Equal(2, _proxy.OpenConnections);
    }

    [Fact]
    public async Task Reset_resets_open_and_new_connections_until_heal()
    {
        using var open = await ConnectAsync();
        await AssertEchoesAsync(open, "before");

        _proxy.Reset();

        await AssertResetAsync(open);
        await AssertNewConnectionResetAsync();

        _proxy.Heal();
        using var healed = await ConnectAsync();
        await AssertEchoesAsync(healed, "after");
    }

    [Fact]
    public async Task Cut_holds_for_its_duration_then_heals()
    {
        using var client = await ConnectAsync();
        var cut = _proxy.CutAsync(TimeSpan.FromSeconds(1));
        await client.GetStream().WriteAsync("during"u8.ToArray());
        var reply = ReadAsync(client, "during".Length);
        await _proxy.HoldingAsync(Patience);
        Assert.False(reply.IsCompleted, "bytes went through during the cut");

        var lasted = await cut;

        Assert.Equal(ProxyMode.Pass, _proxy.Mode);
        Assert.Equal("during", await reply.WaitAsync(Patience));
        // What it returns is measured: a timer may fire a tick early, never much earlier.
        Assert.True(lasted >= TimeSpan.FromMilliseconds(980), $"the cut lasted {lasted.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task Dispose_closes_held_connections_promptly()
    {
        using var client = await ConnectAsync();
        _proxy.Hold();
        await client.GetStream().WriteAsync("stuck"u8.ToArray());

        await _proxy.DisposeAsync().AsTask().WaitAsync(Patience);

        await AssertResetAsync(client);
        Assert.Equal(0, _proxy.OpenConnections);
    }

    private async Task<TcpClient> ConnectAsync()
    {
        var client = new TcpClient { NoDelay = true };
        await client.ConnectAsync("127.0.0.1", _proxy.Port);
        return client;
    }

    private static async Task AssertEchoesAsync(TcpClient client, string text)
    {
        await client.GetStream().WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
        Assert.Equal(text, await ReadAsync(client, text.Length).WaitAsync(Patience));
    }

    private static async Task<string> ReadAsync(TcpClient client, int length)
    {
        var buffer = new byte[length];
        await client.GetStream().ReadExactlyAsync(buffer);
        return System.Text.Encoding.UTF8.GetString(buffer);
    }

    /// <summary>The reset can reach a new client while it is still connecting, or on its first read.</summary>
    private async Task AssertNewConnectionResetAsync()
    {
        var error = await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var client = await ConnectAsync();
            await client.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(Patience);
        });
        var socketError = Assert.IsType<SocketException>(error as SocketException ?? error.InnerException);
        Assert.Equal(SocketError.ConnectionReset, socketError.SocketErrorCode);
    }

    private static async Task AssertResetAsync(TcpClient client)
    {
        var read = client.GetStream().ReadAsync(new byte[1]).AsTask().WaitAsync(Patience);
        var error = await Assert.ThrowsAsync<IOException>(() => read);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }
}
