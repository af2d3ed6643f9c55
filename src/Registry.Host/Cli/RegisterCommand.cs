using System.Collections.Immutable;
using System.CommandLine;
using Akka;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Registry.Host.Cli;

/// <summary>
/// <c>registry register</c>: sidecar mode. Registers an address and keeps it registered until SIGINT/SIGTERM;
/// the host's stop runs CoordinatedShutdown, which deregisters it. Prints this registration's events as JSON lines.
/// Exits 0 after a stop, 1 when a newer process took the id over (conflict), 2 when the registration is refused.
/// </summary>
internal sealed class RegisterCommand : Command
{
    private readonly CommonOptions _common;
    private readonly CliIo _io;

    private readonly Option<string?> _service = Required(OptionParsing.Checked("--service", "S",
        "service name (letters, digits, '.', '_', '-')", InstanceValidation.CheckService));

    private readonly Option<string?> _address = Required(OptionParsing.Checked("--address", "HOST:PORT",
        "address the instance listens on", InstanceValidation.CheckAddress));

    private readonly Option<string?> _id = OptionParsing.Checked("--id", "ID",
        "instance id, unique within the service [default: the address]", InstanceValidation.CheckId);

    private readonly Option<long?> _ttl = OptionParsing.Number<long>("--ttl", "SEC",
        $"lease TTL in whole seconds, {InstanceValidation.MinTtlSeconds}-{InstanceValidation.MaxTtlSeconds} [default: registry.ttl, 10]",
        InstanceValidation.CheckTtl, 0);

    private readonly Option<int?> _weight = OptionParsing.Number<int>("--weight", "N",
        "relative share of calls for weighted balancing [default: 1]", InstanceValidation.CheckWeight, 0);

    private readonly Option<string?> _version = OptionParsing.Checked("--version", "V",
        "version of the service build", CheckVersion);

    private readonly Option<ImmutableSortedDictionary<string, string>?> _meta = new("--meta")
    {
        Description = "metadata entry; repeat for more",
        HelpName = "K=V",
        Arity = ArgumentArity.OneOrMore,
        AllowMultipleArgumentsPerToken = false,
        CustomParser = ParseMetadata,
    };

    public RegisterCommand(CommonOptions common, CliIo io)
        : base("register", "Register an address and keep it registered until SIGINT/SIGTERM (sidecar mode); print its registration events as JSON lines")
    {
        _common = common;
        _io = io;
        Add(_service);
        Add(_address);
        Add(_id);
        Add(_ttl);
        Add(_weight);
        Add(_version);
        Add(_meta);
        SetAction(RunAsync);
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = _common.Resolve(parse, _io);
        var register = ToRegister(parse);
        var key = InstanceCodec.Key(settings.Prefix, register.Instance.Service, register.Instance.Id);

        using var host = CliHost.Build(settings);
        await host.StartAsync(ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var exitCode = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancelled = ct.Register(lifetime.StopApplication);
        using var stopping = lifetime.ApplicationStopping.Register(() => exitCode.TrySetResult(0));

        var system = host.Services.GetRequiredService<ActorSystem>();
        var printer = system.ActorOf(RegistrationEventPrinter.Props(key, _io, e =>
        {
            // The id now belongs to a newer process, which must not be disturbed: this one only reports and leaves.
            if (e.Kind == RegistrationEventKind.Conflict) exitCode.TrySetResult(1);
        }), "registration-events");
        system.EventStream.Subscribe(printer, typeof(RegistrationEvent));
        // Deregistration runs in before-service-unbind and publishes the last event: print it before the system stops.
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceUnbind, "registry-cli-print-events",
            () => printer.Ask<Done>(RegistrationEventPrinter.Flush.Instance, TimeSpan.FromSeconds(1)));

        var supervisor = await host.Services.GetRequiredService<IRequiredActor<RegistrySupervisor>>().GetAsync(ct);
        var shutdown = CoordinatedShutdown.Get(system);
        _ = RegisterAsync(supervisor, register, exitCode, () => lifetime.ApplicationStopping.IsCancellationRequested || shutdown.ShutdownReason is not null, lifetime.ApplicationStopping);

        var code = await exitCode.Task;
        await host.StopAsync(CancellationToken.None);
        return code;
    }

    /// <summary>Waits for the answer to <see cref="Register"/>, however long etcd takes; a refusal ends the command.</summary>
    private async Task RegisterAsync(IActorRef supervisor, Register register, TaskCompletionSource<int> exitCode, Func<bool> isStopping, CancellationToken stopping)
    {
        object reply;
        try
        {
            reply = await supervisor.Ask<object>(register, stopping);
        }
        catch (Exception) when (isStopping())
        {
            return;
        }
        // A conflict is reported by its event (exit 1); a refusal while stopping is expected.
        if (reply is RegistrationFailed failed && !isStopping() && !failed.Reason.StartsWith("conflict:", StringComparison.Ordinal))
        {
            _io.Warn($"register refused: {failed.Reason}");
            exitCode.TrySetResult(2);
        }
    }

    private Register ToRegister(ParseResult parse)
    {
        var address = parse.GetValue(_address)!;
        var instance = new ServiceInstance(
            parse.GetValue(_service)!,
            parse.GetValue(_id) ?? address,
            address,
            parse.GetValue(_meta) ?? ServiceInstance.EmptyMetadata,
            parse.GetValue(_weight) ?? 1,
            parse.GetValue(_version),
            DateTimeOffset.UtcNow);
        // The options are valid one by one; what remains are limits on the whole (metadata count and size).
        if (InstanceValidation.Check(instance).FirstOrDefault() is { } problem)
            throw new UsageException(problem.StartsWith("metadata", StringComparison.Ordinal) ? OptionParsing.Relabel("--meta", problem) : problem);
        return new Register(instance, parse.GetValue(_ttl));
    }

    private static ImmutableSortedDictionary<string, string>? ParseMetadata(System.CommandLine.Parsing.ArgumentResult result)
    {
        var metadata = ImmutableSortedDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var pair in result.Tokens.Select(t => t.Value))
        {
            var equals = pair.IndexOf('=');
            if (equals <= 0)
            {
                result.AddError($"--meta '{pair}': expected KEY=VALUE with a non-empty KEY");
                return null;
            }
            var key = pair[..equals];
            if (!metadata.TryAdd(key, pair[(equals + 1)..]))
            {
                result.AddError($"--meta '{pair}': key '{key}' given twice");
                return null;
            }
        }
        return metadata.ToImmutable();
    }

    private static string? CheckVersion(string version) =>
        version.Length > 0 && !version.Any(char.IsControl) ? null : $"version '{version}': expected a non-empty string without control characters";

    private static Option<T> Required<T>(Option<T> option)
    {
        option.Required = true;
        return option;
    }
}
