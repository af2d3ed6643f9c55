using System.CommandLine;
using Akka.Configuration;
using Akka.Hosting;
using Registry.Host.Sample;

namespace Registry.Host.Cli;

/// <summary>
/// <c>registry serve</c>: runs the sample UserService over gRPC on the address and registers it once Kestrel listens.
/// SIGINT/SIGTERM deregister it first, keep serving for the drain delay, let the calls in flight finish, then stop.
/// Prints the registration's events as JSON lines, as <c>register</c> does. Exits 0 after a stop, 1 when the address
/// cannot be listened on, a newer process took the id over (conflict) or the registry failed on the request (a bug), 2
/// when the registration is refused.
/// </summary>
internal sealed class ServeCommand : Command
{
    private const int MaxDrainSeconds = 300;

    private readonly CommonOptions _common;
    private readonly CliIo _io;
    private readonly RegistrationOptions _registration = new();

    private readonly Option<TimeSpan?> _drain = OptionParsing.Seconds("--drain", "SEC",
        $"after deregistering, keep serving this long so clients see the instance leave; shorter than {SampleServerSettings.ShutdownTimeoutKey} (30 by default) [default: {SampleServerSettings.DrainDelayKey}, 2]",
        MaxDrainSeconds);

    public ServeCommand(CommonOptions common, CliIo io)
        : base("serve", "Run the sample UserService gRPC server on the address, registered while it serves; SIGINT/SIGTERM deregister, drain and stop it")
    {
        _common = common;
        _io = io;
        foreach (var option in _registration.All) Add(option);
        Add(_drain);
        SetAction(RunAsync);
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = _common.Resolve(parse, _io);
        var register = _registration.ToRegister(parse);
        var stopping = Stopping(parse.GetValue(_drain));
        CliHost.CheckSettings(settings);
        var instance = register.Instance;
        var key = InstanceCodec.Key(settings.Prefix, instance.Service, instance.Id);

        var failed = false;
        await using var server = SampleServer.Create(new SampleServerOptions
        {
            Common = settings,
            Service = instance.Service,
            Address = instance.Address,
            Id = instance.Id,
            TtlSeconds = register.TtlSeconds,
            Weight = instance.Weight,
            Version = instance.Version,
            Metadata = instance.Metadata,
            DrainDelay = stopping.DrainDelay,
            ShutdownTimeout = stopping.ShutdownTimeout,
            HandleSignals = true,
            // The server stops by itself on a conflict; the printer is done with the event before the system stops.
            ConfigureAkka = akka => akka.AddStartup((system, _) => system.PrintRegistrationEvents(key, _io,
                e =>
                {
                    // Only ever set, never read and written back: the printer's thread and the command's both set it.
                    if (e.Kind == RegistrationEventKind.Conflict) failed = true;
                })),
        });
        try
        {
            await server.StartAsync(ct);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            // A taken port (IOException) or an address of no interface here (SocketException).
            _io.Warn($"--address {instance.Address}: cannot listen: {e.Message}");
            return RegistryCommand.Failed;
        }
        using var cancelled = ct.Register(server.Lifetime.StopApplication);

        int? exitCode = null;
        bool IsStopping() => server.Lifetime.ApplicationStopping.IsCancellationRequested || ct.IsCancellationRequested;
        try
        {
            await server.Registered.WaitAsync(ct);
        }
        catch (SampleRegistrationException e) when (e.IsConflict)
        {
            // A newer process holds the id: the server stops by itself, and the conflict event is printed.
            failed = true;
        }
        catch (SampleRegistrationException e) when (!IsStopping())
        {
            _io.Warn(e.Failure.Describe());
            exitCode = e.Failure.ExitCode();
            server.Lifetime.StopApplication();
        }
        catch (Exception) when (IsStopping())
        {
            // stopped before etcd answered
        }

        await server.Stopped;
        return exitCode ?? (failed ? RegistryCommand.Failed : RegistryCommand.Ok);
    }

    /// <summary>The host's <c>registry.serve</c> settings with <c>--drain</c> over them.</summary>
    private static SampleServerSettings Stopping(TimeSpan? drain)
    {
        SampleServerSettings configured;
        try
        {
            configured = SampleServerSettings.From(CliHost.LoadHocon());
        }
        catch (ConfigurationException e)
        {
            throw new UsageException($"{CliHost.HoconPath}: {e.Message}");
        }
        if (drain is not { } requested) return configured;
        if (requested >= configured.ShutdownTimeout)
            throw new UsageException($"--drain {requested.TotalSeconds:0.###}: must be shorter than {SampleServerSettings.ShutdownTimeoutKey} ({SettingReader.Duration(configured.ShutdownTimeout)}), which bounds the whole stop");
        return configured with { DrainDelay = requested };
    }
}
