using System.Diagnostics;
using System.Net;
using Grpc.Core;
using Akka.Actor;
using Akka.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Registry.Host.Sample;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Call;

/// <summary>
/// One instance of the sample UserService in-process, as a server process would run it: Kestrel with HTTP/2
/// cleartext on 127.0.0.1, registered through its own actor system once it listens. It can stop gracefully
/// (deregister, drain, stop), be killed (stop at once, lease left to expire) and start again on the same address. A
/// hung one takes every call and never answers it.
/// Kept small on purpose, to be replaced by the <c>serve</c> command's server when that exists.
/// </summary>
internal sealed class UserServer : IAsyncDisposable
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(15);
    private readonly IReadOnlyList<string> _endpoints;
    private readonly long _ttlSeconds;
    private readonly bool _hung;
    private WebApplication? _app;
    private ActorSystem? _system;

    private UserServer(IReadOnlyList<string> endpoints, string service, int port, long ttlSeconds, bool hung)
    {
        _endpoints = endpoints;
        _ttlSeconds = ttlSeconds;
        _hung = hung;
        Service = service;
        Port = port;
    }

    public string Service { get; }

    public int Port { get; }

    public string Address => $"127.0.0.1:{Port}";

    /// <summary>The instance id: its address, as registered by default.</summary>
    public string Id => Address;

    /// <summary>The actor system that registered the instance (while running).</summary>
    public ActorSystem System => _system ?? throw new InvalidOperationException($"{Id} is not running");

    /// <summary>The etcd key of the registration.</summary>
    public string Key => $"/services/{Service}/{Id}";

    /// <summary>A server on a free port, listening and registered.</summary>
    public static async Task<UserServer> StartNewAsync(IReadOnlyList<string> endpoints, string service, long ttlSeconds = 10, bool hung = false)
    {
        for (var attempt = 1; ; attempt++)
        {
            var server = new UserServer(endpoints, service, FreePorts.Take(1)[0], ttlSeconds, hung);
            try
            {
                await server.StartAsync();
                return server;
            }
            catch (IOException) when (attempt < 5)
            {
                // The free port was taken meanwhile: another one.
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>Listens, then registers (never the other way round).</summary>
    public async Task StartAsync()
    {
        if (_app is not null) throw new InvalidOperationException($"{Id} is running");
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, Port, l => l.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc();
        builder.Services.AddSingleton(new SampleInstance(Id));
        var app = builder.Build();
        if (_hung) app.MapGrpcService<HungUserService>();
        else app.MapGrpcService<UserServiceImpl>();
        try
        {
            await app.StartAsync();
        }
        catch
        {
            await app.DisposeAsync();
            throw;
        }
        _app = app;

        // Terminating the system without CoordinatedShutdown is how a kill leaves the key to its lease.
        var hocon = $$"""
            akka.loglevel = WARNING
            akka.coordinated-shutdown.run-by-actor-system-terminate = off
            registry {
              etcd.endpoints = [{{string.Join(", ", _endpoints.Select(e => $"\"{e}\""))}}]
              ttl = {{_ttlSeconds}}s
            }
            """;
        _system = ActorSystem.Create("user-server", ConfigurationFactory.ParseString(hocon));
        var reply = await ServiceRegistry.Get(_system).Supervisor.Ask<object>(new Register(ServiceInstance.Create(Service, Address)), Wait);
        if (reply is not Registered) throw new InvalidOperationException($"{Id}: expected Registered, got {reply}");
    }

    /// <summary>
    /// Deregisters, keeps serving until <paramref name="drained"/> completes (clients have seen it leave: what a drain
    /// delay stands for), then stops letting calls finish.
    /// </summary>
    public async Task StopGracefullyAsync(Func<Task> drained)
    {
        var (app, system) = Take();
        await ServiceRegistry.Get(system).Supervisor.Ask<Deregistered>(new Deregister(Service, Id), Wait);
        await drained();
        await app.StopAsync(new CancellationTokenSource(Wait).Token);
        await app.DisposeAsync();
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
    }

    /// <summary>Stops at once, as kill -9 would: connections dropped, nothing deregistered, the lease left to expire.</summary>
    public async Task KillAsync()
    {
        var (app, system) = Take();
        await app.StopAsync(new CancellationToken(canceled: true));
        await app.DisposeAsync();
        await system.Terminate();
        // The process's etcd connection goes with it; its lease is neither renewed nor revoked.
        await ServiceRegistry.Get(system).Store.DisposeAsync();
    }

    private (WebApplication, ActorSystem) Take()
    {
        var taken = (_app ?? throw new InvalidOperationException($"{Id} is not running"), _system!);
        _app = null;
        _system = null;
        return taken;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is null) return;
        var (app, system) = Take();
        await app.DisposeAsync();
        await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
    }
}

/// <summary>A UserService that takes every call and never answers it (until the caller gives up).</summary>
internal sealed class HungUserService : UserService.UserServiceBase
{
    public override async Task<GetUserInfoResponse> GetUserInfo(GetUserInfoRequest request, ServerCallContext context)
    {
        await Task.Delay(Timeout.Infinite, context.CancellationToken);
        throw new UnreachableException();
    }
}
