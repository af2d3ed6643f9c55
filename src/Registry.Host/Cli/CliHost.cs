using Akka;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Registry.Hosting;
using AkkaLogLevel = Akka.Event.LogLevel;

namespace Registry.Host.Cli;

/// <summary>
/// The generic host every command runs in: the actor system built by Akka.Hosting with <c>AddServiceRegistry</c>,
/// exactly as an application would, with every log (Akka's included) on stderr, one line each.
/// The console lifetime turns SIGINT/SIGTERM into a host stop, which runs CoordinatedShutdown.
/// </summary>
internal static class CliHost
{
    /// <summary>The host's HOCON, shipped next to the binary.</summary>
    public static string HoconPath => Path.Combine(AppContext.BaseDirectory, "hocon", "registry.conf");

    public static IHost Build(CommonSettings settings, Action<AkkaConfigurationBuilder>? configure = null)
    {
        // No defaults: appsettings.json or DOTNET_ variables in the working directory must not change a tool's behaviour.
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Logging.ClearProviders()
            .SetMinimumLevel(settings.LogLevel)
            .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
            .AddSimpleConsole(o =>
            {
                o.SingleLine = true;
                o.TimestampFormat = "HH:mm:ss.fff ";
                o.UseUtcTimestamp = true;
            });
        builder.Services.AddAkka("registry", (akka, _) =>
        {
            akka.AddHoconFile(HoconPath, HoconAddMode.Append)
                .ConfigureLoggers(loggers =>
                {
                    loggers.LogLevel = ToAkka(settings.LogLevel);
                    loggers.ClearLoggers();
                    loggers.AddLoggerFactory();
                })
                .AddServiceRegistry(o =>
                {
                    o.Endpoints = settings.Endpoints.Select(e => e.ToString()).ToList();
                    o.Prefix = settings.Prefix;
                })
                .AddStartup((system, _) => StopDiscoveryBeforeEtcdCloses(system));
            configure?.Invoke(akka);
        });
        return builder.Build();
    }

    /// <summary>
    /// The registry closes its etcd client in <c>before-actor-system-terminate</c>, while the watchers still run: each
    /// would see its stream cut and warn that its view is stale on every exit of <c>list</c> and <c>watch</c>. Stopping
    /// discovery one phase earlier ends the watches first.
    /// </summary>
    private static void StopDiscoveryBeforeEtcdCloses(ActorSystem system)
    {
        var discovery = ServiceRegistry.Get(system).Discovery;
        CoordinatedShutdown.Get(system).AddTask(CoordinatedShutdown.PhaseServiceStop, "registry-cli-stop-discovery", async () =>
        {
            try
            {
                await discovery.GracefulStop(TimeSpan.FromSeconds(3));
            }
            catch (TaskCanceledException)
            {
                // Not stopped in time: the watchers' streams are cut with the client, at worst with a warning.
            }
            return Done.Instance;
        });
    }

    private static AkkaLogLevel ToAkka(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => AkkaLogLevel.DebugLevel,
        LogLevel.Information => AkkaLogLevel.InfoLevel,
        LogLevel.Warning => AkkaLogLevel.WarningLevel,
        _ => AkkaLogLevel.ErrorLevel,
    };
}
