using Akka.Configuration;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Registry.Hosting;

namespace Registry.Tests.Hosting;

/// <summary>Options given to <c>AddServiceRegistry</c> are checked where they are applied, naming the option.</summary>
public sealed class ServiceRegistryOptionsTests
{
    public static TheoryData<string, Action<ServiceRegistryOptions>> InvalidOptions => new()
    {
        { "ServiceRegistryOptions.TtlSeconds: registry.ttl: ttl 1: expected whole seconds from 2 to 3600", o => o.TtlSeconds = 1 },
        { "ServiceRegistryOptions.Prefix: registry.prefix: 'services'", o => o.Prefix = "services" },
        { "ServiceRegistryOptions.Endpoints: registry.etcd.endpoints: '127.0.0.1:2379'", o => o.Endpoints = ["127.0.0.1:2379"] },
        { "ServiceRegistryOptions.Endpoints: registry.etcd.endpoints: expected a list of URLs", o => o.Endpoints = [null!] },
    };

    [Fact]
    public void A_later_call_refused_as_invalid_leaves_the_options_as_they_were()
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), "options");
        builder.AddServiceRegistry(o => o.TtlSeconds = 5);

        Assert.Throws<ConfigurationException>(() => builder.AddServiceRegistry(o => o.TtlSeconds = 1));

        Assert.Equal("registry {\n  ttl = 5s\n}", builder.Setups.OfType<ServiceRegistrySetup>().Single().Options.ToHocon());
    }

    [Fact]
    public void Endpoints_changed_after_they_were_validated_change_nothing()
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), "options");
        var endpoints = new List<string> { "http://127.0.0.1:2379" };
        builder.AddServiceRegistry(o => o.Endpoints = endpoints);

        endpoints[0] = "not a URL";

        Assert.Equal("registry {\n  etcd.endpoints = [\"http://127.0.0.1:2379\"]\n}", builder.Setups.OfType<ServiceRegistrySetup>().Single().Options.ToHocon());
    }

    [Theory]
    [MemberData(nameof(InvalidOptions))]
    public void An_invalid_option_fails_when_applied_naming_the_option_and_its_key(string expected, Action<ServiceRegistryOptions> configure)
    {
        var builder = new AkkaConfigurationBuilder(new ServiceCollection(), "options");

        var error = Assert.Throws<ConfigurationException>(() => builder.AddServiceRegistry(configure));

        Assert.StartsWith(expected, error.Message);
    }

    [Fact]
    public async Task A_host_with_an_invalid_option_fails_to_start_naming_the_option()
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAkka("options", (akka, _) => akka.AddServiceRegistry(o => o.TtlSeconds = 1));
        using var host = builder.Build();

        var error = await Assert.ThrowsAsync<ConfigurationException>(() => host.StartAsync());

        Assert.StartsWith("ServiceRegistryOptions.TtlSeconds: registry.ttl:", error.Message);
    }
}
