using System.Diagnostics;
using System.Text.Json;
using System.Threading.Channels;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>
/// The built <c>registry</c> binary as a child process; every stdout line must be a JSON object. Disposing kills it
/// (and an <see cref="OrphanGuard"/> does if the test process dies first).
/// </summary>
internal sealed class RegistryProcess : IDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private readonly Process _process;
    private readonly OrphanGuard _guard;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _stderr = [];

    private RegistryProcess(Process process)
    {
        _process = process;
        _guard = new OrphanGuard(process.Id);
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) _lines.Writer.TryComplete();
            else _lines.Writer.TryWrite(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_stderr) _stderr.Add(e.Data);
        };
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    /// <summary>Everything the process wrote to stderr so far.</summary>
    public string Stderr
    {
        get
        {
            lock (_stderr) return string.Join('\n', _stderr);
        }
    }

    public static RegistryProcess Start(params string[] args)
    {
        // The test project references the host, so the built registry.dll sits next to the tests.
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        var process = new RegistryProcess(Process.Start(start)!);
        process._process.BeginOutputReadLine();
        process._process.BeginErrorReadLine();
        return process;
    }

    public async Task<JsonElement> NextEventAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            var line = await _lines.Reader.ReadAsync(timeout.Token);
            return JsonDocument.Parse(line).RootElement;
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new Xunit.Sdk.XunitException($"registry printed no further event; its stderr:\n{Stderr}");
        }
    }

    /// <summary>Sends SIGTERM, as a process manager stopping the service would.</summary>
    public void Terminate() => Signal("-TERM");

    /// <summary>Sends SIGKILL: the process dies without running any of its shutdown.</summary>
    public void Kill() => Signal("-KILL");

    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            throw new Xunit.Sdk.XunitException($"registry did not exit within {Patience.TotalSeconds:0} s; its stderr:\n{Stderr}");
        }
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.Dispose();
        _guard.Dispose();
    }

    private void Signal(string signal)
    {
        using var kill = Process.Start("kill", [signal, _process.Id.ToString()]);
        kill.WaitForExit();
    }
}
