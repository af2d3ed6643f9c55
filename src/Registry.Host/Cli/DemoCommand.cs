using System.CommandLine;
using Registry.Host.Demo;

namespace Registry.Host.Cli;

/// <summary><c>registry demo</c>: a self-contained tour on a throw-away local etcd, in under a minute.</summary>
internal sealed class DemoCommand : Command
{
    private readonly CommonOptions _common;
    private readonly CliIo _io;

    public DemoCommand(CommonOptions common, CliIo io)
        : base("demo", "A tour on a throw-away local etcd (so --etcd and --prefix are refused): three instances, a client calling, one instance stopped and one killed")
    {
        _common = common;
        _io = io;
        // Stopped before the tour's host started, it says "demo interrupted"; once it runs, the tour says so itself.
        SetAction((parse, ct) => RegistryCommand.FailWhenStoppedAsync(() => TourAsync(parse, ct), _io, "demo interrupted", ct));
    }

    private async Task<int> TourAsync(ParseResult parse, CancellationToken ct)
    {
        // Inherited from the root, but the tour runs on an etcd and a prefix of its own.
        foreach (var option in new Option[] { _common.Etcd, _common.Prefix })
        {
            if (parse.GetResult(option) is not null) throw new UsageException($"{option.Name}: does not apply to demo, which starts an etcd of its own");
        }
        var level = _common.ResolveLogLevel(parse, _io);
        try
        {
            return await new DemoTour(_io, level).RunAsync(ct);
        }
        catch (Exception e) when (e is InvalidOperationException or TimeoutException)
        {
            _io.Warn($"demo failed: {e.Message}");
            return RegistryCommand.Failed;
        }
    }
}
