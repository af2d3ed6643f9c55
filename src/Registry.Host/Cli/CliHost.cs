using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Registry.Balancing;
using Registry.Hosting;
using AkkaLogLevel = Akka.Event.LogLevel;

namespace Registry.Host.Cli;

/// <summary>
/// The host every command runs in: the actor system built by Akka.Hosting with <c>AddServiceRegistry</c>,
/// exactly as an application would, with every log (Akka's included) on stderr, one line each.
/// The console lifetime turns SIGINT/SIGTERM into a host stop: the registry deregisters as it begins, then the
/// hosted services stop and Akka.Hosting runs CoordinatedShutdown.
/// <see cref="Configure"/> sets up any <see cref="IHostApplicationBuilder"/>: the generic host of the tools
/// (<see cref="Build"/>) and the web application of <c>serve</c> alike.
/// </summary>
internal static class CliHost
{
    /// <summary>The host's HOCON, shipped next to the binary.</summary>
    public static string HoconPath => Path.Combine(AppContext.BaseDirectory, "hocon", "registry.conf");

    /// <summary>The host's HOCON, for the settings a command needs before its actor system exists.</summary>
    public static Config LoadHocon() => ConfigurationFactory.ParseString(File.ReadAllText(HoconPath));

    /// <summary>
    /// Checks the <c>registry</c> settings the actor system will start with (the host's HOCON, the command line's
    /// endpoints and prefix over it, reference.conf under it), so that a bad one in the host's HOCON is one line naming
    /// the file and the key and exit 2, as a bad <c>registry.serve</c> key is, rather than a failed host start with the
    /// exception's stack three times on stderr.
    /// </summary>
    /// <exception cref="UsageException">A setting is not valid.</exception>
    public static void CheckSettings(CommonSettings settings)
    {
        try
        {
            var options = new ServiceRegistryOptions();
            SetOptions(options, settings);
            var config = new ServiceRegistrySetup(options).Apply(LoadHocon());
            RegistrySettings.From(config);
            BalancingSettings.From(config);
        }
        catch (ConfigurationException e)
        {
            throw new UsageException($"{HoconPath}: {e.Message}");
        }
    }

    /// <summary>A generic host with nothing but the registry.</summary>
    public static IHost Build(CommonSettings settings, Action<AkkaConfigurationBuilder>? configure = null)
    {
        CheckSettings(settings);
        // No defaults: appsettings.json or DOTNET_ variables in the working directory must not change a tool's behaviour.
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        Configure(builder, settings, configure);
        return builder.Build();
    }

    /// <summary>
    /// Adds the command-line logging and the actor system with the registry to <paramref name="builder"/>;
    /// <paramref name="configure"/> adds to the actor system's configuration.
    /// </summary>
    public static void Configure(IHostApplicationBuilder builder, CommonSettings settings, Action<AkkaConfigurationBuilder>? configure = null)
    {
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
                .AddServiceRegistry(o => SetOptions(o, settings));
            configure?.Invoke(akka);
        });
    }

    /// <summary>Sets the registry options the command line gives: the endpoints and the prefix.</summary>
    private static void SetOptions(ServiceRegistryOptions options, CommonSettings settings)
    {
        options.Endpoints = settings.Endpoints.Select(e => e.ToString()).ToList();
        options.Prefix = settings.Prefix;
    }

    private static AkkaLogLevel ToAkka(LogLevel level) => level switch
    {
        LogLevel.Trace or LogLevel.Debug => AkkaLogLevel.DebugLevel,
        LogLevel.Information => AkkaLogLevel.InfoLevel,
        LogLevel.Warning => AkkaLogLevel.WarningLevel,
        _ => AkkaLogLevel.ErrorLevel,
    };
}
