using System.Diagnostics;
using Registry.Host.Demo;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// A process a test starts and reads through <see cref="Process"/> itself, with every process it starts (the demo's
/// etcd and servers). Disposing kills them all, whatever the test got to. It runs in a session of its own
/// (<c>setsid</c>), so it leads a process group, which an <see cref="OrphanGuard"/> kills whole should the test
/// process die first.
/// </summary>
internal sealed class ChildProcess : IDisposable
{
    private readonly OrphanGuard _guard;

    private ChildProcess(Process process)
    {
        Process = process;
        _guard = OrphanGuard.Watch(process, group: true);
    }

    public Process Process { get; }

    /// <summary>Starts <paramref name="start"/>, whose arguments must be in its ArgumentList, under <c>setsid</c>.</summary>
    public static ChildProcess Start(ProcessStartInfo start)
    {
        if (start.Arguments.Length > 0) throw new ArgumentException("give the arguments in ArgumentList", nameof(start));
        var program = start.FileName;
        // setsid execs the program in place (the process is no group leader yet): the pid stays the program's.
        start.ArgumentList.Insert(0, program);
        start.FileName = "setsid";
        // A .NET child opens its diagnostics pipes in /tmp and removes them as it exits: killed, it would leave them.
        start.Environment["DOTNET_EnableDiagnostics"] = "0";
        return new(Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}"));
    }

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
