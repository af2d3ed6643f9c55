using Akka.Configuration;
using Registry.Balancing;

namespace Registry.Tests.Balancing;

public sealed class BalancingSettingsTests
{
    private static BalancingSettings Parse(string hocon) => BalancingSettings.From(ConfigurationFactory.ParseString(hocon));

    [Fact]
    public void Reference_conf_holds_every_default()
    {
        var settings = Parse("");
        Assert.Equal("round-robin", settings.Policy);
        Assert.Equal(TimeSpan.FromSeconds(1), settings.Ejection.Min);
        Assert.Equal(TimeSpan.FromSeconds(30), settings.Ejection.Max);
        Assert.Equal(0.2, settings.Ejection.RandomFactor);
        Assert.Equal(50, settings.MaxEjectedPercent);
        Assert.Equal(3, settings.ConsecutiveTimeouts);
        Assert.Equal(1.25, settings.HashLoadFactor);
        Assert.Equal(160, settings.VirtualNodes);
    }

    [Theory]
    [InlineData("registry.balancing.policy = foo", "registry.balancing.policy: 'foo' is not one of random, round-robin, weighted, p2c, hash")]
    [InlineData("registry.balancing.policy = [p2c]", "registry.balancing.policy: a list: expected one of random, round-robin, weighted, p2c, hash")]
    [InlineData("registry.balancing.ejection.base-backoff = 0s", "registry.balancing.ejection.base-backoff")]
    [InlineData("registry.balancing.ejection.max-backoff = 10ms", "registry.balancing.ejection.max-backoff: must not be below base-backoff")]
    [InlineData("registry.balancing.ejection.random-factor = 2", "registry.balancing.ejection.random-factor: 2")]
    [InlineData("registry.balancing.ejection.max-ejected-percent = 101", "registry.balancing.ejection.max-ejected-percent: 101")]
    [InlineData("registry.balancing.ejection.consecutive-timeouts = -1", "registry.balancing.ejection.consecutive-timeouts: -1")]
    [InlineData("registry.balancing.ejection.consecutive-timeouts = 1001", "registry.balancing.ejection.consecutive-timeouts: 1001")]
    [InlineData("registry.balancing.hash.load-factor = 0.9", "registry.balancing.hash.load-factor: 0.9")]
    [InlineData("registry.balancing.hash.virtual-nodes = 0", "registry.balancing.hash.virtual-nodes: 0")]
    [InlineData("registry.balancing.hash.virtual-nodes = many", "registry.balancing.hash.virtual-nodes: 'many': expected a whole number")]
    [InlineData("registry.balancing.hash.load-factor = x", "registry.balancing.hash.load-factor: 'x': expected a number")]
    [InlineData("registry.balancing.ejection.random-factor = NaN", "registry.balancing.ejection.random-factor: NaN")]
    [InlineData("registry.balancing.ejection.base-backoff = soon", "registry.balancing.ejection.base-backoff: 'soon'")]
    [InlineData("registry.balancing = 5", "registry.balancing: expected an object of settings")]
    [InlineData("registry = 5", "registry: expected an object of settings")]
    [InlineData("registry.balancing.ejection { base-backoff = 10000000d, max-backoff = 10000000d }", "registry.balancing.ejection.max-backoff: 864000000000s: expected at most 86400s")]
    public void Invalid_settings_name_the_key(string hocon, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => Parse(hocon));
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData(50, 0, 0)]
    [InlineData(50, 1, 0)]
    [InlineData(50, 2, 1)]
    [InlineData(50, 3, 1)]
    [InlineData(50, 10, 5)]
    [InlineData(10, 4, 1)]
    [InlineData(100, 4, 3)]
    [InlineData(0, 10, 0)]
    public void The_ejected_share_is_rounded_down_at_least_one_and_never_all(int percent, int members, int expected) =>
        Assert.Equal(expected, Parse($"registry.balancing.ejection.max-ejected-percent = {percent}").MaxEjected(members));
}
