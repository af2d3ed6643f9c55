using System.Diagnostics;

namespace Registry.Host.Demo;

/// <summary>
/// SIGKILLs a process, or the process group it leads, and removes a directory it used, if this process dies without
/// cleaning up (kill -9, a crash, a test host's hang timeout), which no in-process hook survives. A <c>sh</c> child
/// blocks reading a pipe only this process holds open; when this process dies the pipe closes, the read returns, and
/// the shell kills the target. Disposing the guard kills the shell first, and so does the target's exit (its Exited
/// event, right after .NET reaped it), so the guard does not outlive its target to fire at a reused pid.
/// </summary>
internal sealed class OrphanGuard : IDisposable
{
    private readonly Process _shell;
    private int _disposed;

    private OrphanGuard(int pid, bool group, string? directory)
    {
        var start = new ProcessStartInfo("/bin/sh")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // The pid and the directory reach the script as its arguments $1 and $2, never spliced into its text. It
        // ignores the signals a terminal sends its whole process group (Ctrl-C, a closed session): it must outlive this
        // process. The target may still be writing its directory while it dies: the removal is tried a few times.
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("trap '' INT QUIT HUP TERM; read _; " + (group ? "kill -9 -$1 $1" : "kill -9 $1")
                               + (directory is null ? "" : "; for i in 1 2 3 4 5; do rm -rf -- \"$2\" && break; sleep 0.2; done"));
        start.ArgumentList.Add("orphan-guard");
        start.ArgumentList.Add($"{pid}");
        if (directory is not null) start.ArgumentList.Add(directory);
        _shell = Process.Start(start) ?? throw new InvalidOperationException("could not start /bin/sh for the orphan guard");
    }

    /// <summary>
    /// Guards <paramref name="process"/>, with the process group it leads when <paramref name="group"/>, until it exits
    /// by itself or the guard is disposed; once it has killed the process, it removes <paramref name="directory"/>.
    /// </summary>
    public static OrphanGuard Watch(Process process, bool group = false, string? directory = null)
    {
        var guard = new OrphanGuard(process.Id, group, directory);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => guard.Dispose();
        if (process.HasExited)
        {
            guard.Dispose();
        }

        return guard;
    }

    /// <summary>Kills the target now, as when this process dies (the guard's own tests).</summary>
    public void Fire()
    {
        // Disposed from here on: the target's exit must not kill the shell before it has removed the directory.
        if (Interlocked.Exchange(ref _disposed, 1) == 1) throw new ObjectDisposedException(nameof(OrphanGuard));
        _shell.StandardInput.Close();
        _shell.WaitForExit();
        _shell.Dispose();
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
