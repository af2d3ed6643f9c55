using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Registry.Host.Cli;
using Registry.Hosting;

namespace Registry.Host.Sample;

/// <summary>
/// The sample UserService as a gRPC server (Kestrel, HTTP/2 cleartext) with its own actor system and registration.
/// It registers once Kestrel listens; its stop deregisters first, keeps serving for the drain delay so clients see it
/// leave, then lets Kestrel finish the calls in flight (within the shutdown timeout). <c>registry serve</c> runs one;
/// the demo and tests run several in one process.
/// </summary>
/// <example>
/// <code>
/// await using var server = SampleServer.Create(new SampleServerOptions { Common = common, Service = "user" });
/// await server.StartAsync();          // listening on a free port
/// await server.Registered;            // the key is written
/// await server.StopAsync();           // deregistered, drained, stopped
/// </code>
/// </example>
internal sealed class SampleServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly SampleRegistration _registration;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _lock = new();
    private Task? _stop;
    private CancellationTokenRegistration _stopWhenAsked;
    private bool _started;

    private SampleServer(WebApplication app, SampleServerOptions options, SampleServerSettings settings)
    {
        _app = app;
        Options = options;
        Settings = settings;
        _registration = app.Services.GetRequiredService<SampleRegistration>();
    }

    public SampleServerOptions Options { get; }

    /// <summary>The drain delay and shutdown timeout in force (the options over <c>registry.serve</c>).</summary>
    public SampleServerSettings Settings { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The server's actor system (Akka.Hosting's), for its registry and discovery.</summary>
    public ActorSystem System => _app.Services.GetRequiredService<ActorSystem>();

    /// <summary>The host's lifetime: <see cref="IHostApplicationLifetime.StopApplication"/> stops the server too.</summary>
    public IHostApplicationLifetime Lifetime => _app.Lifetime;

    /// <summary>The instance as registered (address with the port listened on); null until started.</summary>
    public ServiceInstance? Instance => _registration.Instance;

    /// <summary>The host:port the server listens on; throws until started.</summary>
    public string Address => Instance?.Address ?? throw new InvalidOperationException("the server has not started");

    /// <summary>Completes once the instance's key is written; fails with <see cref="SampleRegistrationException"/> when refused.</summary>
    public Task<Registered> Registered => _registration.Registered;

    /// <summary>The calls being served right now.</summary>
    public int InFlightCalls => _app.Services.GetRequiredService<InFlightCalls>().Count;

    /// <summary>Completes when the server has stopped, however the stop began (<see cref="StopAsync"/>, a signal, a conflict).</summary>
    public Task Stopped => _stopped.Task;

    /// <summary>Builds a server; nothing listens or connects before <see cref="StartAsync"/>.</summary>
    /// <exception cref="ArgumentException">The address is not host:port.</exception>
    /// <exception cref="Akka.Configuration.ConfigurationException">The drain delay or shutdown timeout is wrong; the message names it.</exception>
    public static SampleServer Create(SampleServerOptions options)
    {
        var address = SampleAddress.Parse(options.Address);
        var settings = ResolveSettings(options);
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ApplicationName = "registry" });
        CliHost.Configure(builder, options.Common, options.ConfigureAkka);
        // A failed start or stop reaches the caller as the exception of StartAsync or StopAsync, not as a second report.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);
        if (!options.HandleSignals) builder.Services.AddSingleton<IHostLifetime>(new InProcessLifetime());
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownTimeout);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(address.Listen);
        builder.Services.AddSingleton<InFlightCalls>();
        builder.Services.AddGrpc(o => o.Interceptors.Add<InFlightCalls>());
        // The standard grpc.health.v1.Health service for probes: NOT_SERVING only while a check is unhealthy (the
        // registration stopped for a conflict), SERVING while it is held or degraded (etcd unreachable, renewals failing).
        builder.Services.AddGrpcHealthChecks().AddServiceRegistry();
        builder.Services.AddSingleton(options).AddSingleton(settings).AddSingleton(address);
        // Registered after Akka's hosted service: starts once the actor system runs, stops before it terminates.
        // WebApplication adds Kestrel's hosted service last, so Kestrel is bound before StartedAsync registers.
        builder.Services.AddSingleton<SampleRegistration>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<SampleRegistration>());
        // Resolved on the first call, when Kestrel listens and a port 0 has become a real one.
        builder.Services.AddSingleton(sp => new SampleInstance(
            options.Id ?? address.Listening(sp.GetRequiredService<IServer>())));
        options.ConfigureServices?.Invoke(builder.Services);
        var app = builder.Build();
        app.MapGrpcService<UserServiceImpl>();
        app.MapGrpcHealthChecksService();
        return new SampleServer(app, options, settings);
    }

    /// <summary>
    /// Starts the actor system and Kestrel, then asks for the registration (see <see cref="Registered"/>) without
    /// waiting for etcd. A port that cannot be bound fails the start with an <see cref="IOException"/>, and nothing is registered.
    /// </summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        lock (_lock)
        {
            if (_started) throw new InvalidOperationException("the server was started already");
            _started = true;
        }
        try
        {
            await _app.StartAsync(ct);
        }
        catch
        {
            await StopAsync();
            throw;
        }
        _stopWhenAsked = _app.Lifetime.ApplicationStopping.Register(() => _ = StopAsync());
    }

    /// <summary>Deregisters, waits the drain delay, lets the calls in flight finish, stops. Safe to call more than once.</summary>
    public Task StopAsync()
    {
        lock (_lock)
        {
            return _stop ??= StopOnceAsync();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_started) await StopAsync();
        await _stopWhenAsked.DisposeAsync();
        await _app.DisposeAsync();
    }

    private async Task StopOnceAsync()
    {
        // Off the caller's thread: a stop may be asked from a callback of the lifetime it waits for.
        await Task.Yield();
        try
        {
            // The host bounds the stop with its ShutdownTimeout.
            await _app.StopAsync(CancellationToken.None);
        }
        finally
        {
            _stopped.TrySetResult();
        }
    }

    private static SampleServerSettings ResolveSettings(SampleServerOptions options)
    {
        if (options.DrainDelay is { } drain && options.ShutdownTimeout is { } timeout) return new SampleServerSettings(drain, timeout).Validate();
        var configured = SampleServerSettings.From(CliHost.LoadHocon());
        return new SampleServerSettings(options.DrainDelay ?? configured.DrainDelay, options.ShutdownTimeout ?? configured.ShutdownTimeout).Validate();
    }

    /// <summary>A lifetime that leaves signals alone: the owner of the process decides when a server stops.</summary>
    private sealed class InProcessLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken ct) => Task.CompletedTask;

        public Task StopAsync(CancellationToken ct) => Task.CompletedTask;
    }
}
