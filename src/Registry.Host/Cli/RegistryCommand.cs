using System.CommandLine;
using System.CommandLine.Invocation;

namespace Registry.Host.Cli;

/// <summary>
/// The <c>registry</c> command line: parses, turns any bad argument into one line on stderr and exit code 2,
/// and runs the chosen command. Exit codes: 0 done, 1 failed at run time, 2 bad arguments.
/// </summary>
internal static class RegistryCommand
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;

    /// <summary>Runs the command line <paramref name="args"/> in-process and returns its exit code.</summary>
    /// <param name="args">The arguments after the program name.</param>
    /// <param name="stdout">Where output goes: JSON lines, tables, help.</param>
    /// <param name="stderr">Where messages for humans and logs written by the command itself go.</param>
    /// <param name="environment">Reads environment variables; <see cref="Environment.GetEnvironmentVariable(string)"/> when null.</param>
    /// <param name="ct">Cancelling it stops the command as SIGTERM would; so does a write to <paramref name="stdout"/> that fails, and the command then exits 1.</param>
    public static async Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr,
        Func<string, string?>? environment = null, CancellationToken ct = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var io = new CliIo(stdout, stderr, environment ?? Environment.GetEnvironmentVariable, stop);
        // No response files: an argument starting with '@' is a value like any other, never a file to read.
        var parse = Create(io).Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (OptionParsing.FirstProblem(parse, args) is { } problem)
        {
            io.Warn(problem);
            return Usage;
        }
        try
        {
            var code = await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = stdout,
                Error = stderr,
                EnableDefaultExceptionHandler = false,
                // Program turns SIGINT/SIGTERM into a cancellation of ct, and a running host's console lifetime stops it
                // on them too: System.CommandLine must not handle them as well, or it would cut CoordinatedShutdown short.
                ProcessTerminationTimeout = null,
            }, stop.Token);
            return io.OutputFailed ? Failed : code;
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // Stopped while it started, before it could handle the stop itself: nothing to clean up. A clean stop, as
            // register, watch and serve make once running; list, call and demo report an interruption themselves.
            return io.OutputFailed ? Failed : Ok;
        }
        catch (UsageException e)
        {
            io.Warn(e.Message);
            return Usage;
        }
        catch (Exception e) when (CliIo.IsWriteFailure(e) && parse.Action is SynchronousCommandLineAction)
        {
            // Help or --version, written by System.CommandLine itself: every command here is asynchronous and writes
            // through io, which stops it on such a failure.
            io.Warn($"cannot write to stdout, stopping: {(e.InnerException ?? e).Message}");
            return Failed;
        }
        catch (Exception e)
        {
            io.Warn($"failed: {e.GetType().Name}: {e.Message}");
            return Failed;
        }
    }

    /// <summary>
    /// Runs a command whose work is a result (<c>list</c>, <c>call</c>, <c>demo</c>): stopped while it starts, before it
    /// can tell a stop itself, it says <paramref name="interrupted"/> and fails, as when stopped later.
    /// </summary>
    public static async Task<int> FailWhenStoppedAsync(Func<Task<int>> run, CliIo io, string interrupted, CancellationToken ct)
    {
        try
        {
            return await run();
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            io.Warn(interrupted);
            return Failed;
        }
    }

    /// <summary>The command tree; each command is its own class in this folder.</summary>
    public static RootCommand Create(CliIo io)
    {
        var common = new CommonOptions();
        var root = new RootCommand("Registry: register .NET services in etcd and discover them.");
        foreach (var option in common.All) root.Add(option);
        root.Add(new RegisterCommand(common, io));
        root.Add(new ListCommand(common, io));
        root.Add(new WatchCommand(common, io));
        root.Add(new ServeCommand(common, io));
        root.Add(new CallCommand(common, io));
        root.Add(new DemoCommand(common, io));
        return root;
    }
}
