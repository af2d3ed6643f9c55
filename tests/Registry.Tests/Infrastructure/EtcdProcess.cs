using System.Diagnostics;
using System.Runtime.InteropServices;
using Registry.Host.Demo;

namespace Registry.Tests.Infrastructure;

/// <summary>One running etcd OS process: its output tail, and the ways to end it.</summary>
internal sealed class EtcdProcess : IDisposable
{
    private const int TailLines = 60;
    private const int SigTerm = 15;
    private const int SigCont = 18;
    private const int SigStop = 19;

    private readonly Process _process;
    private readonly OrphanGuard _guard;
    private readonly Queue<string> _tail = new();

    private EtcdProcess(Process process)
    {
        _process = process;
        _process.OutputDataReceived += (_, e) => Record(e.Data);
        _process.ErrorDataReceived += (_, e) => Record(e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        _guard = OrphanGuard.Watch(process);
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Whether etcd said it could not bind one of its ports (someone took it since we picked it).</summary>
    public bool FailedToBind => Tail().Contains("address already in use", StringComparison.Ordinal);

    public static EtcdProcess Start(string executable, IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        return new EtcdProcess(Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}"));
    }

    /// <summary>The last lines etcd wrote (stdout and stderr interleaved), for error messages.</summary>
    public string Tail()
    {
        if (_process.HasExited)
        {
            _process.WaitForExit(); // drains the output of a process that just died
        }

        lock (_tail)
        {
            return string.Join(Environment.NewLine, _tail);
        }
    }

    /// <summary>SIGKILL, and wait until the process and its output streams are gone.</summary>
    public void Kill()
    {
        try
        {
            _process.Kill();
        }
        catch (InvalidOperationException)
        {
            // already exited
        }

        _process.WaitForExit();
    }

    /// <summary>SIGSTOP: the process hangs, its connections open and its listening socket still accepting.</summary>
    public void Freeze() => Signal(SigStop);

    /// <summary>SIGCONT: a frozen process runs again.</summary>
    public void Thaw() => Signal(SigCont);

    private void Signal(int signal)
    {
        if (SendSignal(_process.Id, signal) != 0) throw new InvalidOperationException($"could not send signal {signal} to etcd (pid {_process.Id})");
    }

    /// <summary>SIGTERM (etcd shuts down cleanly), then SIGKILL if it is still there after <paramref name="grace"/>.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_process.HasExited)
        {
            return;
        }

        if (SendSignal(_process.Id, SigTerm) != 0)
        {
            Kill();
            return;
        }

        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await _process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            Kill();
        }
    }

    public void Dispose()
    {
        Kill();
        _guard.Dispose();
        _process.Dispose();
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            _tail.Enqueue(line);
            if (_tail.Count > TailLines)
            {
                _tail.Dequeue();
            }
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
