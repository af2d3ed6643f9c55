using System.Runtime.InteropServices;
using Registry.Host.Cli;

// stdout carries only the command's output. Anything else that writes to Console.Out goes to stderr: Akka prints
// log events that arrive after its loggers stopped (late in a shutdown) on Console.Out, stdout-loglevel = OFF or not.
var stdout = Console.Out;
Console.SetOut(Console.Error);
// Stops the command, whenever it comes: before its host starts, while it starts, or while it runs. Not disposed: the
// thread that cancels it when stdout closes can outlive Main.
var stop = new CancellationTokenSource();
ClosedStdout.CancelWhenClosed(stop);
// SIGTERM, SIGINT, SIGQUIT and SIGHUP (its terminal or ssh session closed) stop it the same way. Once the host runs,
// its console lifetime stops the host on the first three as well; before, the runtime would end the process (exit
// 143 for SIGTERM), and during the host's start that lifetime alone would only cancel the start (exit 1). On SIGHUP
// the runtime would end the process at any time, leaving its registration to expire with its lease.
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
using var quit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, Stop);
using var hangUp = PosixSignalRegistration.Create(PosixSignal.SIGHUP, Stop);
if (ArgumentEncoding.FirstProblem(args) is { } notUtf8)
{
    await Console.Error.WriteLineAsync($"registry: {notUtf8}");
    return RegistryCommand.Usage;
}
return await RegistryCommand.InvokeAsync(args, stdout, Console.Error, ct: stop.Token);

void Stop(PosixSignalContext signal)
{
    signal.Cancel = true;
    stop.Cancel();
}
