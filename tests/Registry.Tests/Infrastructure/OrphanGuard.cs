using System.Diagnostics;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// SIGKILLs a process if this test process dies without cleaning up (crash, kill -9, hang timeout), which no
/// in-process hook survives. A <c>sh</c> child blocks reading a pipe only this process holds open; when this
/// process dies the pipe closes, the read returns, and the shell kills the target. Disposing the guard kills the
/// shell first, so it can never fire at a reused pid.
/// </summary>
internal sealed class OrphanGuard : IDisposable
{
    private readonly Process _shell;
    private int _disposed;

    public OrphanGuard(int pid)
    {
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"read _; kill -9 {pid}");
        _shell = Process.Start(start) ?? throw new InvalidOperationException("could not start /bin/sh for the orphan guard");
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }

        try
        {
            _shell.Kill();
            _shell.WaitForExit();
        }
        catch (InvalidOperationException)
        {
            // already exited
        }

        _shell.Dispose();
    }
}
