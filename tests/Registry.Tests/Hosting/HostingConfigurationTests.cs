using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Registry.Hosting;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Hosting;

/// <summary>
/// The settings a host ends up with: HOCON the application adds, options given to <c>AddServiceRegistry</c>, and
/// reference.conf, whatever the order of the calls.
/// </summary>
public sealed class HostingConfigurationTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Appended_hocon_is_honoured_whatever_the_call_order(bool registryFirst)
    {
        var settings = await SettingsOfHostAsync(akka =>
        {
            if (registryFirst) akka.AddServiceRegistry(o => o.Endpoints = [etcd.Endpoint]);
            akka.AddHocon("registry.ttl = 30s\nregistry.prefix = \"/mine/\"", HoconAddMode.Append);
            if (!registryFirst) akka.AddServiceRegistry(o => o.Endpoints = [etcd.Endpoint]);
        });

        Assert.Equal("/mine/", settings.Prefix);
        Assert.Equal(30, settings.TtlSeconds);
    }

    [Theory]
    [InlineData(true, HoconAddMode.Append)]
    [InlineData(false, HoconAddMode.Append)]
    [InlineData(true, HoconAddMode.Prepend)]
    [InlineData(false, HoconAddMode.Prepend)]
    public async Task Options_win_over_hocon_whatever_the_call_order_and_hocon_fills_in_the_rest(bool registryFirst, HoconAddMode mode)
    {
        var settings = await SettingsOfHostAsync(akka =>
        {
            if (registryFirst) akka.AddServiceRegistry(o => { o.Endpoints = [etcd.Endpoint]; o.TtlSeconds = 30; });
            akka.AddHocon("registry.ttl = 20s\nregistry.prefix = \"/mine/\"", mode);
            if (!registryFirst) akka.AddServiceRegistry(o => { o.Endpoints = [etcd.Endpoint]; o.TtlSeconds = 30; });
        });

        Assert.Equal(30, settings.TtlSeconds);
        Assert.Equal("/mine/", settings.Prefix);
    }

    [Fact]
    public async Task A_second_AddServiceRegistry_starts_one_registry_and_its_options_apply_over_the_first()
    {
        var settings = await SettingsOfHostAsync(
            akka => akka
                .AddServiceRegistry(o => { o.Endpoints = [etcd.Endpoint]; o.TtlSeconds = 30; o.Prefix = "/first/"; })
                .AddServiceRegistry(o => o.Prefix = "/second/"),
            host => Assert.Equal(
                ServiceRegistry.Get(host.Services.GetRequiredService<ActorSystem>()).Supervisor,
                host.Services.GetRequiredService<IRequiredActor<RegistrySupervisor>>().ActorRef));

        Assert.Equal("/second/", settings.Prefix);
        Assert.Equal(30, settings.TtlSeconds);
        Assert.Equal(new Uri(etcd.Endpoint), settings.Endpoints.Single());
    }

    private static async Task<RegistrySettings> SettingsOfHostAsync(Action<AkkaConfigurationBuilder> configure, Action<IHost>? started = null)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Logging.ClearProviders();
        builder.Services.AddAkka("hosted", (akka, _) => configure(akka));
        using var host = builder.Build();
        await host.StartAsync();
        try
        {
            started?.Invoke(host);
            return ServiceRegistry.Get(host.Services.GetRequiredService<ActorSystem>()).Settings;
        }
        finally
        {
            await host.StopAsync();
        }
    }
}
