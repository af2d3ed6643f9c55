using Akka.Configuration;

namespace Registry.Host.Sample;

/// <summary>The <c>registry.serve</c> HOCON section of the host: how a sample server stops.</summary>
/// <param name="DrainDelay">How long the server keeps serving after deregistering, so clients see it leave.</param>
/// <param name="ShutdownTimeout">Bound of the whole stop: deregistration, the drain delay and the calls in flight.</param>
internal sealed record SampleServerSettings(TimeSpan DrainDelay, TimeSpan ShutdownTimeout)
{
    public const string DrainDelayKey = "registry.serve.drain-delay";
    public const string ShutdownTimeoutKey = "registry.serve.shutdown-timeout";

    /// <summary>Reads and checks <c>registry.serve</c>; a missing or wrong key is a <see cref="ConfigurationException"/> naming it.</summary>
    public static SampleServerSettings From(Config config) =>
        new SampleServerSettings(Duration(config, DrainDelayKey), Duration(config, ShutdownTimeoutKey)).Validate();

    /// <summary>These settings, or a <see cref="ConfigurationException"/> naming the key that is wrong.</summary>
    public SampleServerSettings Validate()
    {
        if (DrainDelay < TimeSpan.Zero) throw new ConfigurationException($"{DrainDelayKey}: must not be negative");
        if (ShutdownTimeout <= TimeSpan.Zero) throw new ConfigurationException($"{ShutdownTimeoutKey}: must be positive");
        if (DrainDelay >= ShutdownTimeout)
            throw new ConfigurationException($"{DrainDelayKey} {SettingReader.Duration(DrainDelay)}: must be shorter than {ShutdownTimeoutKey} ({SettingReader.Duration(ShutdownTimeout)}), which bounds the whole stop");
        return this;
    }

    private static TimeSpan Duration(Config config, string key)
    {
        if (!config.HasPath(key)) throw new ConfigurationException($"{key}: missing");
        if (config.GetString(key) is var raw && SettingReader.IsBareDuration(raw))
            throw new ConfigurationException($"{key} '{raw}': a duration needs a unit, such as {raw}s or {raw}ms");
        try
        {
            return config.GetTimeSpan(key, allowInfinite: false);
        }
        catch (Exception e) when (e is not ConfigurationException)
        {
            throw new ConfigurationException($"{key} '{config.GetString(key)}': expected a duration such as 2s or 500ms");
        }
    }
}
