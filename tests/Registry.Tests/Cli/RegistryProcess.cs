using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Threading.Channels;
using Registry.Host.Cli;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>
/// The built <c>registry</c> binary as a child process (<c>dotnet registry.dll …</c>): its stdout line by line, its
/// stderr collected, signals to end it. A <see cref="ChildProcess"/>: disposing kills it, with every process it started,
/// if it still runs; its guard kills it should the test process die first.
/// </summary>
internal sealed class RegistryProcess : IDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private const int SigHup = 1;
    private const int SigInt = 2;
    private const int SigTerm = 15;

    private readonly ChildProcess _child;
    private readonly Process _process;
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>();
    private readonly List<string> _stderr = [];
    private TaskCompletionSource _stderrChanged = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private RegistryProcess(ChildProcess child)
    {
        _child = child;
        _process = child.Process;
        _process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) _lines.Writer.TryComplete();
            else _lines.Writer.TryWrite(e.Data);
        };
        _process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            TaskCompletionSource changed;
            lock (_stderr)
            {
                _stderr.Add(e.Data);
                changed = _stderrChanged;
                _stderrChanged = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            }
            changed.TrySetResult();
        };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The lines written to stderr so far.</summary>
    public IReadOnlyList<string> Stderr
    {
        get
        {
            lock (_stderr) return _stderr.ToArray();
        }
    }

    public static RegistryProcess Start(params string[] args) => Start(args, logLevel: null);

    /// <summary>
    /// Starts the command with <c>REGISTRY_LOG_LEVEL</c> set to <paramref name="logLevel"/> (default: unset, Warning).
    /// With <paramref name="interruptible"/>, SIGINT reaches it even when the tests run as a background job, whose
    /// shell ignores SIGINT for every process it starts (the registry, like any program, keeps an inherited "ignore").
    /// </summary>
    public static RegistryProcess Start(string[] args, string? logLevel = null, bool interruptible = false)
    {
        var start = new ProcessStartInfo(interruptible ? "env" : "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (interruptible)
        {
            // GNU env resets the disposition and execs dotnet in the same process, so signals still go to the registry.
            start.ArgumentList.Add("--default-signal=INT");
            start.ArgumentList.Add("dotnet");
        }
        // The test project references the host, so the built registry.dll sits next to the tests.
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        // Every test passes --etcd; the runner's own settings must not change what the command logs.
        start.Environment.Remove(CommonOptions.EtcdVariable);
        start.Environment.Remove(CommonOptions.LogLevelVariable);
        if (logLevel is not null) start.Environment[CommonOptions.LogLevelVariable] = logLevel;
        return new RegistryProcess(ChildProcess.Start(start));
    }

    /// <summary>The next stdout line; fails with the stderr so far when none comes within <paramref name="timeout"/>.</summary>
    public async Task<string> NextLineAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        try
        {
            return await _lines.Reader.ReadAsync(cts.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or ChannelClosedException)
        {
            throw new Xunit.Sdk.XunitException($"registry printed no further line; its stderr:\n{string.Join('\n', Stderr)}");
        }
    }

    /// <summary>The next stdout line as a JSON object.</summary>
    public async Task<JsonElement> NextEventAsync(TimeSpan? timeout = null) => JsonDocument.Parse(await NextLineAsync(timeout)).RootElement;

    /// <summary>
    /// Reads JSON events until one whose <c>event</c> is <paramref name="kind"/>, skipping the others: a loaded machine
    /// may add <c>delayed</c>, <c>renew-failed</c> or <c>recovered</c> before the one a test waits for.
    /// </summary>
    public async Task<JsonElement> NextEventAsync(string kind)
    {
        while (true)
        {
            var e = await NextEventAsync();
            if (e.GetProperty("event").GetString() == kind) return e;
        }
    }

    /// <summary>A stdout line already received, without waiting.</summary>
    public bool TryReadLine(out string line) => _lines.Reader.TryRead(out line!);

    /// <summary>Waits until the command exits and returns every stdout line it printed that was not read yet.</summary>
    public async Task<IReadOnlyList<string>> ReadToEndAsync()
    {
        using var cts = new CancellationTokenSource(Patience);
        var lines = new List<string>();
        await foreach (var line in _lines.Reader.ReadAllAsync(cts.Token)) lines.Add(line);
        return lines;
    }

    /// <summary>Waits for a stderr line matching <paramref name="match"/> (possibly one already written) and returns it.</summary>
    public async Task<string> WaitForStderrAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        while (true)
        {
            Task changed;
            lock (_stderr)
            {
                if (_stderr.FirstOrDefault(match) is { } line) return line;
                changed = _stderrChanged.Task;
            }
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"registry wrote no matching line on stderr; its stderr:\n{string.Join('\n', Stderr)}");
            }
        }
    }

    /// <summary>SIGTERM: the command stops as under a service manager.</summary>
    public void Terminate() => Signal(SigTerm);

    /// <summary>SIGINT: the command stops as on Ctrl-C.</summary>
    public void Interrupt() => Signal(SigInt);

    /// <summary>SIGHUP: the command stops as when its terminal or ssh session closes.</summary>
    public void HangUp() => Signal(SigHup);

    /// <summary>SIGKILL: the process vanishes without deregistering anything.</summary>
    public void Kill() => _process.Kill();

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    public async Task<int> WaitForExitAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        await _process.WaitForExitAsync(timeout.Token);
        return _process.ExitCode;
    }

    public void Dispose() => _child.Dispose();

    private void Signal(int signal)
    {
        if (SendSignal(_process.Id, signal) != 0) throw new InvalidOperationException($"kill -{signal} {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
