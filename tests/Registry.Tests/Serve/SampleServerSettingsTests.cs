using Akka.Configuration;
using Registry.Host.Sample;

namespace Registry.Tests.Serve;

public sealed class SampleServerSettingsTests
{
    private static SampleServerSettings Parse(string hocon) => SampleServerSettings.From(ConfigurationFactory.ParseString(hocon));

    [Theory]
    [InlineData("500ms", 500)]
    [InlineData("0", 0)]
    public void Durations_with_units_and_a_bare_zero_are_read(string drain, int milliseconds)
    {
        var settings = Parse($"registry.serve {{ drain-delay = {drain}, shutdown-timeout = 30s }}");

        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), settings.DrainDelay);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.ShutdownTimeout);
    }

    [Theory]
    [InlineData("registry.serve { drain-delay = 2, shutdown-timeout = 30s }", "registry.serve.drain-delay '2': a duration needs a unit, such as 2s or 2ms")]
    [InlineData("registry.serve { drain-delay = 2s, shutdown-timeout = 30 }", "registry.serve.shutdown-timeout '30': a duration needs a unit")]
    [InlineData("registry.serve { drain-delay = soon, shutdown-timeout = 30s }", "registry.serve.drain-delay 'soon': expected a duration such as 2s or 500ms")]
    public void A_wrong_duration_names_its_key(string hocon, string expected) =>
        Assert.Contains(expected, Assert.Throws<ConfigurationException>(() => Parse(hocon)).Message);
}
