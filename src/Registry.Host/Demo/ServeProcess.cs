using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace Registry.Host.Demo;

/// <summary>
/// A <c>registry serve</c> child process of this same program, which can be stopped with SIGTERM or killed; its
/// <see cref="OrphanGuard"/> kills it should this process be killed first.
/// </summary>
internal sealed class ServeProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly OrphanGuard _guard;

    private ServeProcess(Process process, string address)
    {
        _process = process;
        _guard = OrphanGuard.Watch(process);
        Address = address;
    }

    public string Address { get; }

    public static ServeProcess Start(Uri etcd, string service, string address, int ttlSeconds, double drainSeconds)
    {
        var start = SelfCommand();
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        foreach (var argument in new[]
                 {
                     "serve", "--service", service, "--address", address, "--ttl", $"{ttlSeconds}", "--drain", $"{drainSeconds}",
                     "--etcd", etcd.GetLeftPart(UriPartial.Authority),
                 })
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("could not start registry serve");
        // The instance prints its own registration events; the tour shows what clients see instead.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, _) => { };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new ServeProcess(process, address);
    }

    /// <summary>SIGTERM: the instance deregisters, drains and stops; returns its exit code.</summary>
    public async Task<int> StopAsync()
    {
        if (SendSignal(_process.Id, SigTerm) != 0)
            throw new InvalidOperationException($"kill -TERM {_process.Id} failed: errno {Marshal.GetLastPInvokeError()}");
        await _process.WaitForExitAsync();
        return _process.ExitCode;
    }

    /// <summary>SIGKILL: the instance vanishes without deregistering, as a crashed process does.</summary>
    public Task KillAsync()
    {
        _process.Kill();
        return _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) await KillAsync();
        _guard.Dispose();
        _process.Dispose();
    }

    /// <summary>How to run this program again: its app host, or <c>dotnet registry.dll</c>.</summary>
    private static ProcessStartInfo SelfCommand()
    {
        var host = Environment.ProcessPath ?? throw new InvalidOperationException("the path of this program is unknown");
        if (Path.GetFileNameWithoutExtension(host) != "dotnet") return new ProcessStartInfo(host);
        var start = new ProcessStartInfo(host);
        start.ArgumentList.Add(Assembly.GetEntryAssembly()!.Location);
        return start;
    }

    private const int SigTerm = 15;

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);
}
