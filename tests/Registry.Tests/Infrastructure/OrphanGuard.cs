using System.Diagnostics;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// SIGKILLs a process, or the process group it leads, if this test process dies without cleaning up (crash, kill -9,
/// hang timeout), which no in-process hook survives. A <c>sh</c> child blocks reading a pipe only this process holds open; when this
/// process dies the pipe closes, the read returns, and the shell kills the target. Disposing the guard kills the
/// shell first, and so does the target's exit: the guard can never fire at a reused pid.
/// </summary>
internal sealed class OrphanGuard : IDisposable
{
    private readonly Process _shell;
    private int _disposed;

    private OrphanGuard(int pid, bool group)
    {
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(group ? $"read _; kill -9 -{pid} {pid}" : $"read _; kill -9 {pid}");
        _shell = Process.Start(start) ?? throw new InvalidOperationException("could not start /bin/sh for the orphan guard");
    }

    /// <summary>
    /// Guards <paramref name="process"/>, with the process group it leads when <paramref name="group"/>, until it exits
    /// by itself or the guard is disposed.
    /// </summary>
    public static OrphanGuard Watch(Process process, bool group = false)
    {
        var guard = new OrphanGuard(process.Id, group);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => guard.Dispose();
        if (process.HasExited)
        {
            guard.Dispose();
        }

        return guard;
    }

    /// <summary>Kills the target now, as when this test process dies (its guard's own tests).</summary>
    public void Fire()
    {
        _shell.StandardInput.Close();
        _shell.WaitForExit();
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
