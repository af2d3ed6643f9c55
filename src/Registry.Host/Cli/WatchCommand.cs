using System.CommandLine;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Registry.Host.Cli;

/// <summary>
/// <c>registry watch</c>: prints the membership found at start, then every change, until SIGINT/SIGTERM (exit 0).
/// Subscribes at the registry's discovery actor like any application would. Keeps its own view of what it printed,
/// so a snapshot sent again by a restarted watcher comes out as the exact difference, never as snapshot lines.
/// A stale view (etcd unreachable) is reported on stderr only: stdout carries the four kinds of change and nothing else.
/// </summary>
internal sealed class WatchCommand : Command
{
    private readonly CommonOptions _common;
    private readonly CliIo _io;

    private readonly Option<string?> _service = OptionParsing.ServiceFilter();

    private readonly Option<bool> _json = new("--json")
    {
        Description = """print one JSON object per line: {"event":"snapshot"|"up"|"down"|"update","service","id","address","revision",...}""",
    };

    public WatchCommand(CommonOptions common, CliIo io)
        : base("watch", "Print the live instances, then every change to them, until SIGINT/SIGTERM")
    {
        _common = common;
        _io = io;
        Add(_service);
        Add(_json);
        SetAction(RunAsync);
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = _common.Resolve(parse, _io);
        var service = parse.GetValue(_service);
        var prefix = service is null ? settings.Prefix : InstanceCodec.ServicePrefix(settings.Prefix, service);
        var printer = new Printer(_io, parse.GetValue(_json), prefix);

        using var host = CliHost.Build(settings);
        await host.StartAsync(ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var exitCode = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancelled = ct.Register(lifetime.StopApplication);
        using var stopping = lifetime.ApplicationStopping.Register(() => exitCode.TrySetResult(RegistryCommand.Ok));

        var system = host.Services.GetRequiredService<ActorSystem>();
        var discovery = await host.Services.GetRequiredService<IRequiredActor<DiscoverySupervisor>>().GetAsync(ct);
        system.ActorOf(MembershipSubscriber.Props(discovery, service ?? DiscoverySupervisor.AllServices,
            waiting: reason => _io.Warn($"waiting for etcd at {settings.EndpointList}{(reason is null ? "" : $": {Printable.Escape(reason)}")}"),
            received: printer.Print,
            refused: e =>
            {
                _io.Warn($"watch refused: {e.Message}");
                exitCode.TrySetResult(RegistryCommand.Failed);
            }), "membership");

        var code = await exitCode.Task;
        await host.StopAsync(CancellationToken.None);
        return code;
    }

    /// <summary>Prints membership events as lines; called on the subscriber's thread, one event at a time.</summary>
    private sealed class Printer(CliIo io, bool json, string prefix)
    {
        private readonly CurrentMembership _membership = new();
        private bool _started;
        private bool _stale;

        public void Print(MembershipEvent e)
        {
            foreach (var change in _membership.Apply(e)) io.WriteLine(json ? JsonLines.Membership(change) : Text(change));
            switch (e)
            {
                case MembershipSnapshot snapshot:
                    if (!_started && snapshot.Instances.IsEmpty) io.Warn($"no live instances under {prefix} yet; watching for changes");
                    _started = true;
                    SetStale(snapshot.Stale, null);
                    break;
                // Before the first snapshot there is no membership to call stale: "waiting for etcd" says it all.
                case MembershipStale stale when _started:
                    SetStale(stale.Stale, stale.Reason);
                    break;
            }
        }

        private void SetStale(bool stale, string? reason)
        {
            if (stale == _stale) return;
            _stale = stale;
            io.Warn(stale ? $"etcd unreachable, showing the last known membership: {reason ?? "no answer"}" : "etcd reachable again");
        }
    }

    /// <summary><c>+ user 127.0.0.1:8080 (rev 12)</c>; <c>=</c> found at start, <c>-</c> down, <c>~</c> update with what changed.</summary>
    internal static string Text(MembershipChange change)
    {
        var sign = change.Kind switch
        {
            MembershipChangeKind.Snapshot => '=',
            MembershipChangeKind.Up => '+',
            MembershipChangeKind.Down => '-',
            _ => '~',
        };
        var instance = change.Instance;
        var name = instance.Id == instance.Address ? $"{instance.Service} {instance.Id}" : $"{instance.Service} {instance.Id} at {instance.Address}";
        var line = $"{sign} {name} (rev {change.Revision})";
        return Printable.Escape(change.Previous is { } previous ? $"{line}: {Differences(previous, instance)}" : line);
    }

    private static string Differences(ServiceInstance before, ServiceInstance after)
    {
        var changed = new List<string>();
        if (before.Address != after.Address) changed.Add($"address {before.Address} -> {after.Address}");
        if (before.Weight != after.Weight) changed.Add($"weight {before.Weight} -> {after.Weight}");
        if (before.Version != after.Version) changed.Add($"version {before.Version ?? "-"} -> {after.Version ?? "-"}");
        if (Metadata(before) != Metadata(after)) changed.Add($"metadata {Metadata(before)} -> {Metadata(after)}");
        if (before.RegisteredAt != after.RegisteredAt)
            changed.Add($"registered {RegisteredAtText.Of(after)}");
        return string.Join(", ", changed);
    }

    private static string Metadata(ServiceInstance instance) =>
        instance.Metadata.Count == 0 ? "-" : string.Join(",", instance.Metadata.Select(kv => $"{kv.Key}={kv.Value}"));
}
