using Akka.Configuration;
using Registry.Hosting;

namespace Registry.Tests.Registration;

public sealed class RegistrySettingsTests
{
    private static RegistrySettings Parse(string hocon) => RegistrySettings.From(ConfigurationFactory.ParseString(hocon));

    [Fact]
    public void Reference_conf_holds_every_default()
    {
        var settings = Parse("");
        Assert.Equal([new Uri("http://127.0.0.1:2379")], settings.Endpoints);
        Assert.Equal("/services/", settings.Prefix);
        Assert.Equal(10, settings.TtlSeconds);
        Assert.Equal(TimeSpan.FromSeconds(10) / 4, settings.RenewIntervalFor(10));
        Assert.Equal(TimeSpan.FromSeconds(10), settings.KeyCheckIntervalFor(10));
        Assert.True(settings.DeregisterTimeout < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void A_renew_interval_longer_than_a_third_of_the_ttl_is_clamped()
    {
        var settings = Parse("registry.renew-interval = 5s");
        Assert.Equal(TimeSpan.FromSeconds(1), settings.RenewIntervalFor(3));
        Assert.Equal(TimeSpan.FromSeconds(5), settings.RenewIntervalFor(30));
    }

    [Theory]
    [InlineData("registry.ttl = 1s", "registry.ttl: ttl 1")]
    [InlineData("registry.ttl = 10", "registry.ttl: '10': a duration needs a unit, such as 10s or 10ms")]
    [InlineData("registry.deregister-timeout = 3", "registry.deregister-timeout: '3': a duration needs a unit, such as 3s or 3ms")]
    [InlineData("registry.retry.min-backoff = 0.5", "registry.retry.min-backoff: '0.5': a duration needs a unit")]
    [InlineData("registry.etcd.call-timeout = 1h", "registry.etcd.call-timeout: 3600s must not exceed the ttl (10s)")]
    [InlineData("registry { ttl = 3s, etcd.call-timeout = 4s }", "registry.etcd.call-timeout: 4s must not exceed the ttl (3s)")]
    [InlineData("registry = 5", "registry: expected an object of settings")]
    [InlineData("registry.prefix = \"services\"", "registry.prefix: 'services': expected a path that starts and ends with '/'")]
    [InlineData("registry.prefix = \"/\"", "registry.prefix: '/': expected one or more segments, none empty, without spaces, control or format characters or unpaired surrogates (such as /services/)")]
    [InlineData("registry.prefix = \"/a//b/\"", "registry.prefix: '/a//b/': expected one or more segments, none empty")]
    [InlineData("registry.prefix = \"/a b/\"", "registry.prefix: '/a b/': expected one or more segments, none empty")]
    [InlineData("registry.prefix = \"/a\\nb/\"", @"registry.prefix: '/a\nb/': expected one or more segments, none empty")]
    [InlineData("registry.etcd.endpoints = [\"127.0.0.1:2379\"]", "registry.etcd.endpoints: '127.0.0.1:2379'")]
    [InlineData("registry.etcd.endpoints = [\"http://a:1\", \"https://b:2\"]", "mixes http and https")]
    [InlineData("registry.etcd.endpoints = \"http://a:1,\"", "registry.etcd.endpoints: 'http://a:1,': an empty URL among the others")]
    [InlineData("registry.etcd.endpoints = [\"http://a:1\", \" \"]", "registry.etcd.endpoints: 'http://a:1,': an empty URL among the others")]
    [InlineData("registry.retry.max-backoff = 10ms", "registry.retry.max-backoff: must not be below min-backoff")]
    [InlineData("registry.deregister-timeout = 6s", "registry.deregister-timeout: 6s must be below 5s, the timeout of the CoordinatedShutdown phase it runs in")]
    [InlineData("registry.etcd.call-timeout = 0s", "registry.etcd.call-timeout: 0s: expected a positive duration")]
    [InlineData("registry.ttl = abc", "registry.ttl: 'abc': expected a positive duration")]
    [InlineData("registry.ttl = 2.9s", "registry.ttl: 2.9s: expected whole seconds")]
    [InlineData("registry.renew-interval = Auto", "registry.renew-interval: 'Auto': expected auto or a positive duration")]
    [InlineData("registry.key-check-interval = 0s", "registry.key-check-interval: 0s: expected auto or a positive duration")]
    [InlineData("registry.ttl = 9223372036854775807s", "registry.ttl: '9223372036854775807s': too large; expected a positive duration")]
    [InlineData("registry.ttl = [3s]", "registry.ttl: a list: expected a positive duration")]
    [InlineData("registry.retry = 5", "registry.retry.min-backoff: missing: expected a positive duration")]
    [InlineData("registry.prefix = [\"/services/\"]", "registry.prefix: a list: expected a key prefix such as /services/")]
    [InlineData("registry.prefix = null", "registry.prefix: null: expected a key prefix such as /services/")]
    [InlineData("registry.ttl = null", "registry.ttl: null: expected a positive duration")]
    [InlineData("registry.ttl = ${?REGISTRY_TESTS_UNSET}", "registry.ttl: an object (or an unset ${?VARIABLE} substitution)")]
    [InlineData("registry.renew-interval = [auto]", "registry.renew-interval: a list: expected auto or a positive duration")]
    [InlineData("registry.retry.min-backoff = {a = 1s}", "registry.retry.min-backoff: an object (or an unset ${?VARIABLE} substitution): expected a positive duration")]
    [InlineData("registry.retry.random-factor = [0.2]", "registry.retry.random-factor: a list: expected a number from 0 to 1")]
    [InlineData("registry.etcd.endpoints = {a = 1}", "registry.etcd.endpoints: expected a list of URLs, or one string of comma-separated URLs")]
    [InlineData("registry.etcd.endpoints = [[\"http://a:1\"]]", "registry.etcd.endpoints: expected a list of URLs, or one string of comma-separated URLs")]
    [InlineData("registry.etcd.endpoints = [null]", "registry.etcd.endpoints: expected a list of URLs, or one string of comma-separated URLs")]
    [InlineData("registry.renew-interval = 3ms", "registry.renew-interval: 3ms: expected auto or at least 50ms; a shorter interval only loads etcd")]
    [InlineData("registry.key-check-interval = 49ms", "registry.key-check-interval: 49ms: expected auto or at least 50ms")]
    [InlineData("registry.key-check-interval = 50d", "registry.key-check-interval: 4320000s: expected at most 3600s, the longest TTL")]
    [InlineData("registry.retry.random-factor = x", "registry.retry.random-factor: 'x': expected a number from 0 to 1")]
    [InlineData("registry.retry.random-factor = NaN", "registry.retry.random-factor: NaN: expected a number from 0 to 1")]
    [InlineData("registry.etcd.reconnect-min-backoff = 10s", "registry.etcd.reconnect-max-backoff: must not be below")]
    [InlineData("registry.etcd.stream-min-backoff = 10s", "registry.etcd.stream-max-backoff: must not be below")]
    [InlineData("akka.coordinated-shutdown = 5", "akka.coordinated-shutdown: expected an object of settings")]
    [InlineData("registry.retry { min-backoff = 10000000d, max-backoff = 10000000d }", "registry.retry.max-backoff: 864000000000s: expected at most 86400s")]
    [InlineData("registry.restart.max-backoff = 2d", "registry.restart.max-backoff: 172800s: expected at most 86400s")]
    [InlineData("registry.etcd.stream-max-backoff = 50d", "registry.etcd.stream-max-backoff: 4320000s: expected at most 86400s")]
    [InlineData("registry.etcd.reconnect-max-backoff = 50d", "registry.etcd.reconnect-max-backoff: 4320000s: expected at most 86400s")]
    [InlineData("registry.discovery { progress-interval = 50d, silence-timeout = 60d }", "registry.discovery.progress-interval: 4320000s: expected at most 86400s")]
    [InlineData("registry.discovery.silence-timeout = 50d", "registry.discovery.silence-timeout: 4320000s: expected at most 86400s")]
    public void Invalid_settings_name_the_key(string hocon, string expected)
    {
        var error = Assert.Throws<ConfigurationException>(() => Parse(hocon));
        Assert.Contains(expected, error.Message);
    }

    [Theory]
    [InlineData("registry = 5", "registry: expected an object of settings")]
    [InlineData("akka.coordinated-shutdown = 5", "akka.coordinated-shutdown: expected an object of settings")]
    public void A_section_that_is_no_object_under_the_hosting_options_is_named(string hocon, string expected)
    {
        var config = new ServiceRegistrySetup(new ServiceRegistryOptions { Prefix = "/svc/" }).Apply(ConfigurationFactory.ParseString(hocon));
        var error = Assert.Throws<ConfigurationException>(() => RegistrySettings.From(config));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void The_deregister_timeout_may_use_a_longer_before_service_unbind_phase()
    {
        var settings = Parse("""
            akka.coordinated-shutdown.phases.before-service-unbind.timeout = 20s
            registry.deregister-timeout = 8s
            """);
        Assert.Equal(TimeSpan.FromSeconds(8), settings.DeregisterTimeout);
    }

    [Theory]
    [InlineData("akka.coordinated-shutdown.phases.before-service-unbind.timeout = 2s")]
    [InlineData("akka.coordinated-shutdown.default-phase-timeout = 2s")]
    public void A_deregister_timeout_not_below_the_phase_timeout_is_refused_naming_both(string phase)
    {
        var error = Assert.Throws<ConfigurationException>(() => Parse(phase + "\nregistry.deregister-timeout = 3s"));
        Assert.Contains("registry.deregister-timeout:", error.Message);
        Assert.Contains("akka.coordinated-shutdown.phases.before-service-unbind.timeout", error.Message);
        Assert.Contains("below 2s", error.Message);
    }

    [Fact]
    public void Endpoints_may_be_one_string_rather_than_a_list() =>
        Assert.Equal(
            [new Uri("http://a:1"), new Uri("http://b:2")],
            Parse("registry.etcd.endpoints = \"http://a:1,http://b:2\"").Endpoints);

    [Fact]
    public void Endpoints_may_be_one_comma_separated_string() =>
        Assert.Equal(3, RegistrySettings.ParseEndpoints(["http://a:1,http://b:2", "http://c:3"]).Count);

    [Fact]
    public void An_ipv6_endpoint_without_a_zone_is_taken() =>
        Assert.Equal([new Uri("http://[::1]:2379")], RegistrySettings.ParseEndpoints(["http://[::1]:2379"]));

    [Fact]
    public void Hosting_options_render_onto_the_hocon_section()
    {
        var options = new ServiceRegistryOptions { Endpoints = ["http://10.0.0.1:2379", "http://10.0.0.2:2379"], Prefix = "/svc/", TtlSeconds = 7 };
        var settings = Parse(options.ToHocon());
        Assert.Equal(2, settings.Endpoints.Count);
        Assert.Equal("/svc/", settings.Prefix);
        Assert.Equal(7, settings.TtlSeconds);
    }

    [Fact]
    public void Backoff_grows_exponentially_up_to_its_maximum()
    {
        var backoff = new Backoff(TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(500), 0);
        Assert.Equal([100, 200, 400, 500, 500], Enumerable.Range(0, 5).Select(i => backoff.Delay(i).TotalMilliseconds));
    }
}
