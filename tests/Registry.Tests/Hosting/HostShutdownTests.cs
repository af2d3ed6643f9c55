using System.Net;
using System.Net.Sockets;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Registry.Hosting;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Hosting;

/// <summary>
/// How a host set up as the README says (<c>AddAkka</c> + <c>AddServiceRegistry</c>, nothing by hand) leaves etcd: an
/// ASP.NET Core application before Kestrel stops listening, so no client finds it listed while its port refuses
/// connections.
/// </summary>
public sealed class HostShutdownTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_instance_is_deregistered_before_kestrel_stops_listening(bool stoppedAsBySignal)
    {
        var port = FreePorts.Take(1)[0];
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        builder.Services.AddAkka("web", (akka, _) => akka.AddServiceRegistry(o => { o.Endpoints = [etcd.Endpoint]; o.TtlSeconds = 30; }));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var app = builder.Build();
        app.MapGet("/slow", async () =>
        {
            inFlight.TrySetResult();
            await release.Task;
            return "ok";
        });
        await app.StartAsync();
        try
        {
            var supervisor = app.Services.GetRequiredService<IRequiredActor<RegistrySupervisor>>().ActorRef;
            var registered = await supervisor.Ask<Registered>(new Register(ServiceInstance.Create("web", $"127.0.0.1:{port}")), Wait);
            using var http = new HttpClient();
            // A call in flight holds Kestrel's stop open after its port closed: the window this test looks into.
            var call = http.GetStringAsync($"http://127.0.0.1:{port}/slow");
            await inFlight.Task.WaitAsync(Wait);

            // A signal reaches the host as StopApplication on another thread while RunAsync's wait starts the stop.
            var stopping = stoppedAsBySignal ? app.WaitForShutdownAsync() : app.StopAsync();
            var signal = stoppedAsBySignal ? Task.Run(app.Lifetime.StopApplication) : Task.CompletedTask;
            await RefusedAsync(port);
            using var client = etcd.CreateClient();
            var listedWhenRefused = await client.GetAsync(registered.Key);
            release.SetResult();

            Assert.Equal("ok", await call.WaitAsync(Wait));
            await Task.WhenAll(stopping, signal).WaitAsync(Wait);
            Assert.True(listedWhenRefused is null, $"{registered.Key} still listed once the port refused connections: {listedWhenRefused}");
        }
        finally
        {
            release.TrySetResult();
        }
    }

    [Fact]
    public async Task A_host_whose_actor_system_stopped_by_itself_stops_without_asking_the_stopped_registry()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        // A deregistration bound far beyond the wait below: asking the registry of a terminated system would wait it out.
        builder.Services.AddAkka("stopped", (akka, _) => akka
            .AddHocon("akka.coordinated-shutdown.phases.before-service-unbind.timeout = 300s\nregistry.deregister-timeout = 200s", HoconAddMode.Append)
            .AddServiceRegistry(o => o.Endpoints = [etcd.Endpoint]));
        using var host = builder.Build();
        await host.StartAsync();
        var system = host.Services.GetRequiredService<ActorSystem>();
        var registered = await ServiceRegistry.Get(system).Supervisor.Ask<Registered>(new Register(ServiceInstance.Create("stopped", "127.0.0.1:1")), Wait);

        // CoordinatedShutdown deregisters and terminates the system; Akka.Hosting then stops the host, from the
        // continuation of the termination, which may run on the thread that completes the shutdown.
        var stopped = Task.Run(async () =>
        {
            await CoordinatedShutdown.Get(system).Run(CoordinatedShutdown.ClrExitReason.Instance);
            await host.WaitForShutdownAsync();
        });
        await stopped.WaitAsync(Wait);

        using var client = etcd.CreateClient();
        Assert.Null(await client.GetAsync(registered.Key));
    }

    [Fact]
    public async Task A_stop_asked_on_a_thread_with_a_single_threaded_synchronization_context_deregisters_and_returns()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAkka("ui", (akka, _) => akka.AddServiceRegistry(o => o.Endpoints = [etcd.Endpoint]));
        using var host = builder.Build();
        await host.StartAsync();
        var system = host.Services.GetRequiredService<ActorSystem>();
        var registered = await ServiceRegistry.Get(system).Supervisor.Ask<Registered>(new Register(ServiceInstance.Create("ui", "127.0.0.1:1")), Wait);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();

        // A desktop application's window-closing handler, say: StopApplication on the UI thread, whose context has one thread.
        var returned = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var ui = new Thread(() => new SingleThreadContext().Run(() =>
        {
            lifetime.StopApplication();
            returned.TrySetResult();
        })) { IsBackground = true };
        ui.Start();

        await returned.Task.WaitAsync(Wait);
        using var client = etcd.CreateClient();
        Assert.Null(await client.GetAsync(registered.Key));
        await host.StopAsync();
    }

    /// <summary>A synchronization context with one thread, as a UI thread (WPF, WinForms, MAUI) has.</summary>
    private sealed class SingleThreadContext : SynchronizationContext
    {
        private readonly System.Collections.Concurrent.BlockingCollection<(SendOrPostCallback Callback, object? State)> _queue = [];

        public override void Post(SendOrPostCallback d, object? state) => _queue.Add((d, state));

        /// <summary>Runs <paramref name="first"/>, then whatever is posted, on the calling thread, for good.</summary>
        public void Run(Action first)
        {
            SetSynchronizationContext(this);
            Post(_ => first(), null);
            foreach (var (callback, state) in _queue.GetConsumingEnumerable()) callback(state);
        }
    }

    /// <summary>Completes at the first connection the port refuses.</summary>
    private static async Task RefusedAsync(int port)
    {
        using var timeout = new CancellationTokenSource(Wait);
        while (true)
        {
            try
            {
                using var tcp = new TcpClient();
                await tcp.ConnectAsync(IPAddress.Loopback, port, timeout.Token);
            }
            catch (SocketException)
            {
                return;
            }
            // A poll, not a wait for something to happen: each round asks the port again.
            await Task.Delay(10, timeout.Token);
        }
    }
}
