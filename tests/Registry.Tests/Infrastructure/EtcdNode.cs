using Etcdserverpb;
using Google.Protobuf;
using Grpc.Core;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// One real etcd member on free 127.0.0.1 ports with its own data directory: standalone (<see cref="StartNewAsync"/>,
/// or as an xunit fixture) or a member of an <see cref="EtcdCluster"/>. Kill, stop and restart keep its ports and
/// data. Disposing kills the process and deletes the data directory.
/// </summary>
public sealed class EtcdNode : IAsyncLifetime, IAsyncDisposable, IDisposable
{
    /// <summary>How long a start or restart may take before it fails.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private const string Executable = "etcd";
    private const int StartAttempts = 5;
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ProbeInterval = TimeSpan.FromMilliseconds(50);

    private readonly bool _standalone;
    private EtcdMemberSpec? _spec;
    private EtcdProcess? _process;
    private EtcdTestClient? _probe;
    private bool _disposed;

    /// <summary>A standalone single-member etcd, not started yet (xunit starts a fixture through <see cref="IAsyncLifetime"/>).</summary>
    public EtcdNode() => _standalone = true;

    internal EtcdNode(EtcdMemberSpec spec) => _spec = spec;

    public string Name => Spec.Name;

    public int ClientPort => Spec.ClientPort;

    /// <summary>The client URL, e.g. <c>http://127.0.0.1:41234</c>.</summary>
    public string Endpoint => Spec.ClientUrl;

    public string DataDir => Spec.DataDir;

    public bool IsRunning => _process is { HasExited: false };

    private EtcdMemberSpec Spec => _spec ?? throw new InvalidOperationException("the etcd node has not been started");

    private EtcdTestClient Probe => _probe ?? throw new InvalidOperationException($"etcd {Name} has not been launched");

    /// <summary>Starts a standalone etcd and waits until it serves clients.</summary>
    public static async Task<EtcdNode> StartNewAsync(CancellationToken ct = default)
    {
        var node = new EtcdNode();
        try
        {
            await node.StartAsync(ct);
            return node;
        }
        catch
        {
            node.Dispose();
            throw;
        }
    }

    /// <summary>Starts a standalone etcd on new free ports (trying others if one is taken meanwhile) and waits until it serves clients.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (!_standalone || _spec is not null)
        {
            throw new InvalidOperationException("StartAsync is for a new standalone node; use RestartAsync to start it again");
        }

        for (var attempt = 1; ; attempt++)
        {
            _spec = EtcdMemberSpec.NewCluster(1)[0];
            try
            {
                Launch();
                await WaitUntilServingAsync(ct);
                return;
            }
            catch (EtcdStartException e) when (e.PortTaken && attempt < StartAttempts)
            {
                Kill();
                TestDirectories.Delete(_spec.DataDir);
            }
        }
    }

    /// <summary>A client on this member alone; the caller disposes it.</summary>
    public EtcdTestClient CreateClient() => new(Endpoint);

    /// <summary>SIGKILLs the process (no clean shutdown) and waits until it is gone. No-op when not running.</summary>
    public void Kill()
    {
        _process?.Dispose();
        _process = null;
    }

    /// <summary>Freezes the running process with SIGSTOP: a member that hangs with its connections open.</summary>
    public void Freeze() => (_process ?? throw new InvalidOperationException($"{Name} is not running")).Freeze();

    /// <summary>Lets a frozen process run again (SIGCONT).</summary>
    public void Thaw() => _process?.Thaw();

    /// <summary>Stops the process cleanly (SIGTERM), killing it if it does not exit in time. No-op when not running.</summary>
    public async Task StopAsync()
    {
        if (_process is null)
        {
            return;
        }

        await _process.StopAsync(StopGrace);
        Kill();
    }

    /// <summary>
    /// Stops the process if it runs, starts it again on the same ports and data, and waits until it serves clients.
    /// A cluster member only serves once it has rejoined a quorum: restart a lost majority concurrently.
    /// </summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await StopAsync();
        // Its ports are still free: FreePorts hands a port out once per run, and none is the local end of a connection.
        Launch();
        await WaitUntilServingAsync(ct);
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        Kill();
        _probe?.Dispose();
        if (_spec is not null)
        {
            TestDirectories.Delete(_spec.DataDir);
        }
    }

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    Task IAsyncLifetime.InitializeAsync() => StartAsync();

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    /// <summary>Starts the etcd process without waiting for it.</summary>
    internal void Launch()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (IsRunning)
        {
            throw new InvalidOperationException($"etcd {Name} is already running");
        }

        _process?.Dispose();
        _process = EtcdProcess.Start(Executable, Spec.Arguments());
        // A fresh channel: the old one may sit in reconnect back-off from when the process died.
        _probe?.Dispose();
        _probe = new EtcdTestClient(Endpoint) { CallTimeout = ProbeTimeout, WaitForReady = false };
    }

    /// <summary>Waits until the launched process answers a read, failing early with etcd's output if it exits.</summary>
    internal async Task WaitUntilServingAsync(CancellationToken ct)
    {
        var process = _process ?? throw new InvalidOperationException($"etcd {Name} has not been launched");
        // Serializable: answered by this member alone. etcd only serves clients at all once it has joined its cluster.
        var read = new RangeRequest { Key = ByteString.CopyFromUtf8("/"), CountOnly = true, Serializable = true };
        var deadline = DateTime.UtcNow + StartTimeout;
        while (true)
        {
            if (process.HasExited)
            {
                throw new EtcdStartException($"etcd {Name} ({Endpoint}, data {DataDir}) exited while starting", process.Tail(), process.FailedToBind);
            }

            if (DateTime.UtcNow > deadline)
            {
                throw new EtcdStartException(
                    $"etcd {Name} did not serve clients on {Endpoint} within {StartTimeout.TotalSeconds:0} s", process.Tail(), portTaken: false);
            }

            try
            {
                var options = new CallOptions(deadline: DateTime.UtcNow + ProbeTimeout, cancellationToken: ct).WithWaitForReady();
                await Probe.Raw.KVClient.RangeAsync(read, options);
                return;
            }
            catch (RpcException)
            {
                await Task.Delay(ProbeInterval, ct);
            }
        }
    }

    /// <summary>This member's own status (member id, the leader it follows), failing fast when it is down.</summary>
    internal Task<StatusResponse> StatusAsync(CancellationToken ct) => Probe.StatusAsync(ct);
}
