using Akka.Actor.Setup;
using Akka.Configuration;

namespace Registry.Hosting;

/// <summary>
/// The options given to <c>AddServiceRegistry</c>, carried to the <see cref="ServiceRegistry"/> beside the HOCON
/// rather than inside it: applied over the actor system's configuration when the registry starts, they win over any
/// HOCON the application adds, before or after, appended or prepended.
/// </summary>
internal sealed class ServiceRegistrySetup(ServiceRegistryOptions options) : Setup
{
    /// <summary>The options; a later <c>AddServiceRegistry</c> replaces them with a valid copy it configured.</summary>
    public ServiceRegistryOptions Options { get; set; } = options;

    /// <summary><paramref name="config"/> with the options that are set over it.</summary>
    public Config Apply(Config config) => ConfigurationFactory.ParseString(Options.ToHocon()).WithFallback(config);
}
