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
// SIGTERM and SIGINT stop it the same way. Once the host runs, its console lifetime stops the host on them as well;
// before, the runtime would end the process (exit 143), and during the host's start that lifetime alone would only
// cancel the start (exit 1).
using var terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
return await RegistryCommand.InvokeAsync(args, stdout, Console.Error, ct: stop.Token);

void Stop(PosixSignalContext signal)
{
    signal.Cancel = true;
    stop.Cancel();
}
