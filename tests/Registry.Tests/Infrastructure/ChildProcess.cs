using System.Diagnostics;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// A process a test starts and reads through <see cref="Process"/> itself. Disposing kills it with every process it
/// started (the demo's etcd and servers), whatever the test got to; an <see cref="OrphanGuard"/> kills it should the
/// test process die first.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly OrphanGuard _guard;

    private ChildProcess(Process process)
    {
        Process = process;
        _guard = OrphanGuard.Watch(process);
    }

    public Process Process { get; }

    public static ChildProcess Start(ProcessStartInfo start) =>
        new(Process.Start(start) ?? throw new InvalidOperationException($"could not start {start.FileName}"));

    public void Dispose()
    {
        try
        {
            Process.Kill(entireProcessTree: true); // a no-op once it has exited
            Process.WaitForExit();
        }
        finally
        {
            _guard.Dispose();
            Process.Dispose();
        }
    }
}
