using System.CommandLine;
using Registry.Host.Demo;

namespace Registry.Host.Cli;

/// <summary><c>registry demo</c>: a self-contained tour on a throw-away local etcd, in under a minute.</summary>
internal sealed class DemoCommand : Command
{
    private readonly CommonOptions _common;
    private readonly CliIo _io;

    public DemoCommand(CommonOptions common, CliIo io)
        : base("demo", "A tour on a throw-away local etcd: three instances, a client calling, one instance stopped and one killed")
    {
        _common = common;
        _io = io;
        SetAction(async (parse, ct) =>
        {
            try
            {
                return await new DemoTour(_io, _common.Resolve(parse, _io).LogLevel).RunAsync(ct);
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException)
            {
                _io.Warn($"demo failed: {e.Message}");
                return RegistryCommand.Failed;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                // Stopped before the tour's host started; once it runs, the tour says so itself. Either way: exit 1.
                _io.Warn("demo interrupted");
                return RegistryCommand.Failed;
            }
        });
    }
}
