using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Registry.Tests.Infrastructure;

/// <summary>What a <see cref="FaultProxy"/> does with traffic.</summary>
public enum ProxyMode
{
    /// <summary>Forward every byte both ways.</summary>
    Pass,

    /// <summary>Forward nothing, on open and new connections alike, but keep it: it all flows on <see cref="FaultProxy.Heal"/>.</summary>
    Hold,

    /// <summary>Reset every open connection with RST, and reset new ones as soon as they are accepted.</summary>
    Reset,
}

/// <summary>
/// A TCP proxy on a free 127.0.0.1 port in front of one target (etcd's client port), to cut the link between
/// a client and etcd without touching either: hold the bytes (a stalled network) or reset the connections.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable, IDisposable
{
    private readonly string _targetHost;
    private readonly int _targetPort;
    private readonly Socket _listener;
    private readonly FlowGate _gate = new();
    private readonly object _lock = new();
    private readonly Dictionary<ProxyConnection, Task> _connections = [];
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private ProxyMode _mode = ProxyMode.Pass;
    private int _accepted;
    private int _disposed;

    /// <summary>Starts listening at once, in <see cref="ProxyMode.Pass"/>.</summary>
    public FaultProxy(int targetPort, string targetHost = "127.0.0.1")
    {
        _targetHost = targetHost;
        _targetPort = targetPort;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(backlog: 128);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }

    /// <summary>The URL to give a client instead of the target's, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Endpoint => $"http://127.0.0.1:{Port}";

    public ProxyMode Mode
    {
        get
        {
            lock (_lock)
            {
                return _mode;
            }
        }
    }

    /// <summary>Connections accepted so far, including those reset on arrival.</summary>
    public int AcceptedConnections => Volatile.Read(ref _accepted);

    /// <summary>Completes once, since the last <see cref="Hold"/>, the proxy holds something back (bytes or a new connection).</summary>
    public Task HoldingAsync(TimeSpan timeout) => _gate.Held.WaitAsync(timeout);

    /// <summary>Connections currently open (forwarding or held).</summary>
    public int OpenConnections
    {
        get
        {
            lock (_lock)
            {
                return _connections.Count;
            }
        }
    }

    /// <summary>Stops forwarding and keeps the bytes, as a stalled network would.</summary>
    public void Hold() => SetMode(ProxyMode.Hold);

    /// <summary>Resets every connection and every new one until <see cref="Heal"/>.</summary>
    public void Reset() => SetMode(ProxyMode.Reset);

    /// <summary>Back to forwarding; bytes held meanwhile are delivered first.</summary>
    public void Heal() => SetMode(ProxyMode.Pass);

    /// <summary>
    /// Cuts the link in <paramref name="mode"/> for <paramref name="duration"/>, then heals it; returns how long the cut
    /// really lasted (longer when this process is starved of threads).
    /// </summary>
    public async Task<TimeSpan> CutAsync(TimeSpan duration, ProxyMode mode = ProxyMode.Hold, CancellationToken ct = default)
    {
        var begun = Stopwatch.GetTimestamp();
        SetMode(mode);
        try
        {
            await Task.Delay(duration, ct);
        }
        finally
        {
            Heal();
        }
        return Stopwatch.GetElapsedTime(begun);
    }

    public void SetMode(ProxyMode mode)
    {
        ProxyConnection[] toReset = [];
        lock (_lock)
        {
            _mode = mode;
            if (mode == ProxyMode.Pass)
            {
                _gate.Open();
            }
            else
            {
                _gate.Close();
            }

            if (mode == ProxyMode.Reset)
            {
                toReset = _connections.Keys.ToArray();
            }
        }

        foreach (var connection in toReset)
        {
            connection.Reset();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        await _stop.CancelAsync();
        _listener.Dispose();
        await _acceptLoop;
        KeyValuePair<ProxyConnection, Task>[] open;
        lock (_lock)
        {
            open = _connections.ToArray();
        }

        foreach (var (connection, _) in open)
        {
            connection.Reset();
        }

        await Task.WhenAll(open.Select(c => c.Value));
        _stop.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException || _stop.IsCancellationRequested)
            {
                return;
            }

            Interlocked.Increment(ref _accepted);
            var connection = new ProxyConnection(client, _gate);
            lock (_lock)
            {
                // Checked under the lock that SetMode takes, so a connection is either reset here or by SetMode.
                if (_mode == ProxyMode.Reset)
                {
                    connection.Reset();
                    continue;
                }

                _connections[connection] = RunAsync(connection);
            }
        }
    }

    private async Task RunAsync(ProxyConnection connection)
    {
        await Task.Yield(); // leave the accept loop's lock before running
        await connection.RunAsync(_targetHost, _targetPort);
        lock (_lock)
        {
            _connections.Remove(connection);
        }
    }
}
