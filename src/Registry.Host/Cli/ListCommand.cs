using System.CommandLine;
using Akka.Actor;
using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Registry.Etcd;

namespace Registry.Host.Cli;

/// <summary>
/// <c>registry list</c>: prints the live instances under the prefix, as an aligned table or JSON lines.
/// Reads etcd once through the registry's store; while etcd does not answer it says so on stderr and keeps
/// trying with back-off until it answers or the command is interrupted (exit 1).
/// </summary>
internal sealed class ListCommand : Command
{
    // Between a one-off tool's attempts: quick at first, then no more than a line every few seconds on stderr.
    private static readonly Backoff Retry = new(TimeSpan.FromMilliseconds(200), TimeSpan.FromSeconds(5), 0.2);

    private readonly CommonOptions _common;
    private readonly CliIo _io;

    private readonly Option<string?> _service = OptionParsing.Checked("--service", "S",
        "only the instances of this service [default: every service]", InstanceValidation.CheckService);

    private readonly Option<bool> _json = new("--json") { Description = "print one JSON object per instance and line" };

    public ListCommand(CommonOptions common, CliIo io)
        : base("list", "Print the live instances")
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

        using var host = CliHost.Build(settings);
        await host.StartAsync(ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
        var system = host.Services.GetRequiredService<ActorSystem>();
        var store = ServiceRegistry.Get(system).Store;
        // Should the actor system shut down by itself, its shutdown closes the store (and then stops the host).
        var listing = await ListAsync(store, prefix, settings, () => stop.IsCancellationRequested || CoordinatedShutdown.Get(system).ShutdownReason is not null, stop.Token);
        await host.StopAsync(CancellationToken.None);
        if (listing is null)
        {
            _io.Warn("interrupted before etcd answered");
            return 1;
        }

        var instances = Decode(listing, settings.Prefix);
        if (parse.GetValue(_json))
        {
            foreach (var (key, instance) in instances) _io.WriteLine(JsonLines.Instance(instance, key));
        }
        else if (instances.Count == 0)
        {
            _io.Warn($"no live instances under {prefix}");
        }
        else
        {
            foreach (var line in Table(instances.Select(i => i.Instance))) _io.WriteLine(line);
        }
        return 0;
    }

    /// <summary>Lists the prefix, retrying while etcd does not answer; null when stopped first.</summary>
    private async Task<Listing?> ListAsync(IRegistryStore store, string prefix, CommonSettings settings, Func<bool> isStopping, CancellationToken ct)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await store.ListAsync(prefix, ct);
            }
            catch (Exception) when (isStopping())
            {
                return null;
            }
            catch (Exception e)
            {
                var delay = Retry.Delay(attempt);
                _io.Warn($"etcd at {settings.EndpointList} did not answer ({Describe(e)}); retrying in {delay.TotalSeconds:0.0}s");
                try
                {
                    await Task.Delay(delay, ct);
                }
                catch (OperationCanceledException)
                {
                    return null;
                }
            }
        }
    }

    /// <summary>The instances of a listing; a value that does not decode, or sits under the wrong key, is skipped with a warning.</summary>
    private List<(string Key, ServiceInstance Instance)> Decode(Listing listing, string prefix)
    {
        var instances = new List<(string, ServiceInstance)>();
        foreach (var stored in listing.Values)
        {
            ServiceInstance instance;
            try
            {
                instance = InstanceCodec.Decode(stored.Value);
            }
            catch (FormatException e)
            {
                _io.Warn($"skipping {stored.Key}: {e.Message}");
                continue;
            }
            var expected = InstanceCodec.Key(prefix, instance.Service, instance.Id);
            if (expected != stored.Key)
            {
                _io.Warn($"skipping {stored.Key}: its value is service '{instance.Service}' id '{instance.Id}', whose key is {expected}");
                continue;
            }
            instances.Add((stored.Key, instance));
        }
        return instances;
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
            i.RegisteredAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            i.Metadata.Count == 0 ? "-" : string.Join(",", i.Metadata.Select(kv => $"{kv.Key}={kv.Value}")),
        }).Prepend(header).ToList();
        var widths = header.Select((_, column) => rows.Max(r => r[column].Length)).ToArray();
        return rows.Select(r => string.Join("  ", r.Select((cell, column) => column == r.Length - 1 ? cell : cell.PadRight(widths[column]))));
    }

    private static string Describe(Exception e) => e switch
    {
        RpcException rpc => $"{rpc.StatusCode}: {rpc.Status.Detail}",
        AggregateException { InnerException: { } inner } => Describe(inner),
        _ => e.Message,
    };
}
