using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Registry.Host.Demo;

/// <summary>
/// An etcd process on free loopback ports with a temporary data directory, killed and removed on dispose, or by its
/// <see cref="OrphanGuard"/> should this process be killed first.
/// </summary>
internal sealed class ThrowAwayEtcd : IAsyncDisposable
{
    private readonly Process _process;
    private readonly OrphanGuard _guard;
    private readonly Queue<string> _log = new();

    private ThrowAwayEtcd(Process process, string dataDir, Uri endpoint)
    {
        _process = process;
        _guard = OrphanGuard.Watch(process, directory: dataDir);
        // Its log is not part of the tour, but its last lines explain a start that failed.
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_log)
            {
                _log.Enqueue(e.Data);
                if (_log.Count > 5) _log.Dequeue();
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        DataDir = dataDir;
        Endpoint = endpoint;
    }

    public Uri Endpoint { get; }

    public string DataDir { get; }

    /// <summary>
    /// Starts etcd from PATH and waits until it accepts connections; throws <see cref="InvalidOperationException"/>
    /// saying what to install when it is missing, or with etcd's last words when it does not start.
    /// </summary>
    public static async Task<ThrowAwayEtcd> StartAsync(CancellationToken ct)
    {
        var executable = FindOnPath("etcd")
                         ?? throw new InvalidOperationException("etcd is not on PATH; install it (Debian: apt-get install etcd-server)");
        // Another listener may take a port between the check and etcd's bind: etcd then exits, and starts again on others.
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await StartAsync(executable, ct);
            }
            catch (EtcdExited) when (attempt < 3)
            {
            }
        }
    }

    private static async Task<ThrowAwayEtcd> StartAsync(string executable, CancellationToken ct)
    {
        var dataDir = Directory.CreateTempSubdirectory("registry-demo-").FullName;
        var (client, peer) = (FreePort(), FreePort());
        var endpoint = new Uri($"http://127.0.0.1:{client}");
        var clientUrl = endpoint.GetLeftPart(UriPartial.Authority);
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            ArgumentList =
            {
                "--name", "demo", "--data-dir", dataDir,
                "--listen-client-urls", clientUrl, "--advertise-client-urls", clientUrl,
                "--listen-peer-urls", $"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", $"http://127.0.0.1:{peer}",
                "--initial-cluster", $"demo=http://127.0.0.1:{peer}",
            },
        };
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        var etcd = new ThrowAwayEtcd(process, dataDir, endpoint);
        try
        {
            await etcd.WaitUntilHealthyAsync(ct);
            return etcd;
        }
        catch
        {
            await etcd.DisposeAsync();
            throw;
        }
    }

    /// <summary>Waits until this etcd answers its health endpoint: another process on the port would not.</summary>
    private async Task WaitUntilHealthyAsync(CancellationToken ct)
    {
        var deadline = Stopwatch.GetTimestamp() + Stopwatch.Frequency * 10;
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
        while (true)
        {
            if (_process.HasExited) throw new EtcdExited($"etcd exited with code {_process.ExitCode}: {LastWords()}");
            if (Stopwatch.GetTimestamp() > deadline) throw new InvalidOperationException($"etcd did not answer within 10s: {LastWords()}");
            try
            {
                if ((await http.GetStringAsync(new Uri(Endpoint, "/health"), ct)).Contains("\"health\":\"true\"", StringComparison.Ordinal)) return;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested)
            {
            }
            await Task.Delay(50, ct);
        }
    }

    private string LastWords()
    {
        lock (_log) return string.Join(" | ", _log);
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync();
        _guard.Dispose();
        _process.Dispose();
        Directory.Delete(DataDir, recursive: true);
    }

    /// <summary>
    /// A loopback port free right now, from 10000-19999: below Linux's ephemeral range (32768 and up by default), so no
    /// outgoing connection takes it before it is bound, and apart from the 20000 and up the tests take theirs from.
    /// </summary>
    public static int FreePort()
    {
        for (var tries = 0; tries < 1000; tries++)
        {
            var port = Random.Shared.Next(10000, 20000);
            try
            {
                using var listener = new TcpListener(IPAddress.Loopback, port);
                listener.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }
        throw new InvalidOperationException("no free loopback port in 10000-19999");
    }

    /// <summary>etcd ended before it answered (its ports taken, say).</summary>
    private sealed class EtcdExited(string message) : InvalidOperationException(message);

    private static string? FindOnPath(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
        .Select(dir => Path.Combine(dir, name))
        .FirstOrDefault(File.Exists);
}
