using Akka.Actor;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.DependencyInjection;

namespace Registry;

/// <summary>One-line set-up of the <c>registry</c> scheme for Grpc.Net.Client channels.</summary>
public static class RegistryResolverExtensions
{
    /// <summary>
    /// Adds the <see cref="RegistryResolverFactory"/> to <paramref name="services"/>, the provider to give
    /// <see cref="GrpcChannelOptions.ServiceProvider"/>. Without <paramref name="system"/>, the
    /// <see cref="ActorSystem"/> registered in the provider (as Akka.Hosting does) is used.
    /// </summary>
    public static IServiceCollection AddRegistryResolver(this IServiceCollection services, ActorSystem? system = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return system is null
            ? services.AddSingleton<ResolverFactory>(provider => new RegistryResolverFactory(provider.GetRequiredService<ActorSystem>()))
            : services.AddSingleton<ResolverFactory>(new RegistryResolverFactory(system));
    }

    /// <summary>
    /// Sets <see cref="GrpcChannelOptions.ServiceProvider"/> to a provider holding only the
    /// <see cref="RegistryResolverFactory"/> of <paramref name="system"/>, so <c>registry:///SERVICE</c> addresses
    /// resolve. Replaces a provider set before; to keep one, add <see cref="AddRegistryResolver"/> to its services instead.
    /// </summary>
    /// <returns><paramref name="options"/>, for chaining.</returns>
    public static GrpcChannelOptions UseRegistryResolver(this GrpcChannelOptions options, ActorSystem system)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ServiceProvider = new ServiceCollection().AddRegistryResolver(system ?? throw new ArgumentNullException(nameof(system))).BuildServiceProvider();
        return options;
    }
}
