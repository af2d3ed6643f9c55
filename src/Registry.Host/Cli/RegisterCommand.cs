using System.CommandLine;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Registry.Host.Cli;

/// <summary>
/// <c>registry register</c>: sidecar mode. Registers an address and keeps it registered until SIGINT/SIGTERM;
/// the host's stop runs CoordinatedShutdown, which deregisters it. Prints this registration's events as JSON lines.
/// Exits 0 after a stop, 1 when a newer process took the id over (conflict) or the registry failed on the request
/// (a bug), 2 when the registration is refused.
/// </summary>
internal sealed class RegisterCommand : Command
{
    private readonly CommonOptions _common;
    private readonly CliIo _io;
    private readonly RegistrationOptions _registration = new();

    public RegisterCommand(CommonOptions common, CliIo io)
        : base("register", "Register an address and keep it registered until SIGINT/SIGTERM (sidecar mode); print its registration events as JSON lines")
    {
        _common = common;
        _io = io;
        foreach (var option in _registration.All) Add(option);
        SetAction(RunAsync);
    }

    private async Task<int> RunAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = _common.Resolve(parse, _io);
        var register = _registration.ToRegister(parse);
        var key = InstanceCodec.Key(settings.Prefix, register.Instance.Service, register.Instance.Id);

        using var host = CliHost.Build(settings);
        await host.StartAsync(ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        var exitCode = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cancelled = ct.Register(lifetime.StopApplication);
        using var stopping = lifetime.ApplicationStopping.Register(() => exitCode.TrySetResult(0));

        var system = host.Services.GetRequiredService<ActorSystem>();
        system.PrintRegistrationEvents(key, _io, e =>
        {
            // The id now belongs to a newer process, which must not be disturbed: this one only reports and leaves.
            if (e.Kind == RegistrationEventKind.Conflict) exitCode.TrySetResult(1);
        });

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
        if (reply is RegistrationFailed failed && !isStopping() && failed.Kind != RegistrationFailure.Conflict)
        {
            _io.Warn(failed.Describe());
            exitCode.TrySetResult(failed.ExitCode());
        }
    }
}
