using Registry.Host.Cli;

// stdout carries only the command's output. Anything else that writes to Console.Out goes to stderr: Akka prints
// log events that arrive after its loggers stopped (late in a shutdown) on Console.Out, stdout-loglevel = OFF or not.
var stdout = Console.Out;
Console.SetOut(Console.Error);
// Not disposed: the thread that cancels it can outlive Main.
var stdoutClosed = new CancellationTokenSource();
ClosedStdout.CancelWhenClosed(stdoutClosed);
return await RegistryCommand.InvokeAsync(args, stdout, Console.Error, ct: stdoutClosed.Token);
