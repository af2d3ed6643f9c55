using System.CommandLine;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Registry.Host.Cli;

/// <summary>
/// <c>registry list</c>: prints the live instances under the prefix, as an aligned table or JSON lines.
/// Takes the first snapshot of the registry's discovery, as <c>registry watch</c> and every application do, so it
/// shows what they see: values that do not decode are skipped, each named by the watcher's warning on stderr.
/// The watcher lists etcd until it answers; meanwhile the command says so on stderr and waits until it answers
/// or is interrupted (exit 1).
/// </summary>
internal sealed class ListCommand : Command
{
    private readonly CommonOptions _common;
    private readonly CliIo _io;

    private readonly Option<string?> _service = OptionParsing.ServiceFilter();

    private readonly Option<bool> _json = new("--json") { Description = "print one JSON object per instance and line" };

    public ListCommand(CommonOptions common, CliIo io)
        : base("list", "Print the live instances")
    {
        _common = common;
        _io = io;
        Add(_service);
        Add(_json);
        SetAction((parse, ct) => RegistryCommand.FailWhenStoppedAsync(() => ListAsync(parse, ct), _io, "interrupted before etcd answered", ct));
    }

    private async Task<int> ListAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = _common.Resolve(parse, _io);
        var service = parse.GetValue(_service);
        var prefix = service is null ? settings.Prefix : InstanceCodec.ServicePrefix(settings.Prefix, service);

        using var host = CliHost.Build(settings);
        await host.StartAsync(ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        // Should the actor system shut down by itself, Akka.Hosting stops the host: that interrupts the wait too.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
        var system = host.Services.GetRequiredService<ActorSystem>();
        var discovery = await host.Services.GetRequiredService<IRequiredActor<DiscoverySupervisor>>().GetAsync(ct);
        var first = new TaskCompletionSource<MembershipSnapshot>(TaskCreationOptions.RunContinuationsAsynchronously);
        system.ActorOf(MembershipSubscriber.Props(discovery, service ?? DiscoverySupervisor.AllServices,
            waiting: reason => _io.Warn($"waiting for etcd at {settings.EndpointList} (Ctrl-C to give up){(reason is null ? "" : $": {Printable.Escape(reason)}")}"),
            received: e =>
            {
                if (e is MembershipSnapshot snapshot) first.TrySetResult(snapshot);
            },
            refused: e => first.TrySetException(e)), "membership");

        MembershipSnapshot? listed = null;
        try
        {
            listed = await first.Task.WaitAsync(stop.Token);
        }
        catch (OperationCanceledException)
        {
        }
        finally
        {
            // Also when discovery refused the subscription (a bug there): that failure goes on to the caller.
            await host.StopAsync(CancellationToken.None);
        }
        if (listed is null)
        {
            _io.Warn("interrupted before etcd answered");
            return RegistryCommand.Failed;
        }

        if (parse.GetValue(_json))
        {
            foreach (var instance in listed.Instances)
                _io.WriteLine(JsonLines.Instance(instance, InstanceCodec.Key(settings.Prefix, instance.Service, instance.Id)));
        }
        else if (listed.Instances.IsEmpty)
        {
            _io.Warn($"no live instances under {prefix}");
        }
        else
        {
            foreach (var line in Table(listed.Instances)) _io.WriteLine(line);
        }
        return RegistryCommand.Ok;
    }

    private static IEnumerable<string> Table(IEnumerable<ServiceInstance> instances)
    {
        string[] header = ["SERVICE", "ID", "ADDRESS", "WEIGHT", "VERSION", "REGISTERED", "METADATA"];
        var rows = instances.Select(i => new[]
        {
            i.Service,
            i.Id,
            i.Address,
            i.Weight.ToString(System.Globalization.CultureInfo.InvariantCulture),
            i.Version ?? "-",
            RegisteredAtText.Of(i),
            i.Metadata.Count == 0 ? "-" : string.Join(",", i.Metadata.Select(kv => $"{kv.Key}={kv.Value}")),
        }.Select(Printable.Escape).ToArray()).Prepend(header).ToList();
        var widths = header.Select((_, column) => rows.Max(r => r[column].Length)).ToArray();
        return rows.Select(r => string.Join("  ", r.Select((cell, column) => column == r.Length - 1 ? cell : cell.PadRight(widths[column]))));
    }
}
