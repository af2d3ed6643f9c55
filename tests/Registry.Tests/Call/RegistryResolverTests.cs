using Akka.Actor;
using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Registry.Host.Sample;
using Registry.Tests.Infrastructure;
using Registry.Tests.Registration;

namespace Registry.Tests.Call;

/// <summary>A plain <see cref="GrpcChannel"/> on <c>registry:///SERVICE</c> against real etcd and real in-process servers.</summary>
public sealed class RegistryResolverTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    // Enough consecutive calls for round-robin to visit every ready instance several times.
    private const int Window = 30;

    [Fact]
    public async Task A_round_robin_channel_follows_instances_up_and_down()
    {
        var service = $"svc{Guid.NewGuid():N}"[..12];
        await using var a = await UserServer.StartNewAsync([etcd.Endpoint], service);
        await using var b = await UserServer.StartNewAsync([etcd.Endpoint], service);
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        using var channel = GrpcChannel.ForAddress($"registry:///{service}", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
            ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } },
        }.UseRegistryResolver(process.System));
        var client = new UserService.UserServiceClient(channel);

        await ServedByAsync(client, [a.Id, b.Id]);

        await using var c = await UserServer.StartNewAsync([etcd.Endpoint], service);
        await ServedByAsync(client, [a.Id, b.Id, c.Id]);

        // Deregistered but still serving (its drain): calls stop reaching it because the resolver dropped it.
        await ServiceRegistry.Get(b.System).Supervisor.Ask<Deregistered>(new Deregister(service, b.Id), TimeSpan.FromSeconds(10));
        await ServedByAsync(client, [a.Id, c.Id]);
    }

    [Fact]
    public async Task The_services_helper_registers_the_factory_and_an_empty_service_fails_naming_it()
    {
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        var services = new ServiceCollection().AddSingleton(process.System).AddRegistryResolver().BuildServiceProvider();
        using var channel = GrpcChannel.ForAddress("registry:///nobody-here", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
            ServiceProvider = services,
        });

        var error = await Assert.ThrowsAsync<RpcException>(() => new UserService.UserServiceClient(channel)
            .GetUserInfoAsync(new GetUserInfoRequest { Id = 1 }, deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync);

        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("no instance of 'nobody-here' is registered", error.Status.Detail);
    }

    [Fact]
    public async Task A_call_waiting_for_the_first_membership_ends_when_the_registry_closes()
    {
        // etcd held (bytes go nowhere) with a long call timeout: the first listing can neither answer nor fail.
        await using var proxy = new FaultProxy(etcd.ClientPort);
        proxy.Hold();
        await using var process = new RegistryUnderTest([proxy.Endpoint], ttlSeconds: 60, hocon: "registry.etcd.call-timeout = 60s");
        using var channel = GrpcChannel.ForAddress("registry:///held", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
        }.UseRegistryResolver(process.System));
        // Grpc.Net.Client holds a call until the resolver's first result, whatever the call's deadline.
        var call = new UserService.UserServiceClient(channel).GetUserInfoAsync(new GetUserInfoRequest { Id = 1 }, deadline: DateTime.UtcNow.AddSeconds(2)).ResponseAsync;

        await CoordinatedShutdown.Get(process.System).Run(CoordinatedShutdown.ClrExitReason.Instance);

        var error = await Assert.ThrowsAsync<RpcException>(() => call.WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Contains("the membership of 'held' is not known", error.Status.Detail);
    }

    [Fact]
    public async Task A_channel_made_after_the_actor_system_terminated_fails_its_calls_as_unavailable_saying_why()
    {
        var process = new RegistryUnderTest([etcd.Endpoint]);
        await process.DisposeAsync();
        using var channel = GrpcChannel.ForAddress("registry:///late", new GrpcChannelOptions
        {
            Credentials = ChannelCredentials.Insecure,
        }.UseRegistryResolver(process.System));
        var client = new UserService.UserServiceClient(channel);

        for (var call = 0; call < 2; call++)
        {
            var error = await Assert.ThrowsAsync<RpcException>(() => client.GetUserInfoAsync(new GetUserInfoRequest { Id = 1 }, deadline: DateTime.UtcNow.AddSeconds(10)).ResponseAsync);
            Assert.Equal(StatusCode.Unavailable, error.StatusCode);
            Assert.Contains("the actor system 'registry-test' is terminating or has terminated", error.Status.Detail);
        }
    }

    [Fact]
    public async Task An_address_without_a_valid_service_is_refused_naming_it()
    {
        await using var process = new RegistryUnderTest([etcd.Endpoint]);

        var error = Assert.Throws<ArgumentException>(() => GrpcChannel.ForAddress("registry:///not%20a%20service",
            new GrpcChannelOptions { Credentials = ChannelCredentials.Insecure }.UseRegistryResolver(process.System)));

        Assert.Contains("service 'not a service'", error.Message);
    }

    [Theory]
    [InlineData("registry:///a/../b", "registry:///a/../b: expected registry:///SERVICE; service 'a/../b'")]
    [InlineData("registry:///./a", "registry:///./a: expected registry:///SERVICE; service './a'")]
    public void A_path_of_more_than_one_segment_is_refused_as_written(string address, string expected)
    {
        var error = Assert.Throws<ArgumentException>(() => RegistryResolverFactory.ServiceOf(new Uri(address)));
        Assert.StartsWith(expected, error.Message);
    }

    [Theory]
    [InlineData("registry:///User", "User")]
    [InlineData("registry://User", "User")]
    [InlineData("registry://User/", "User")]
    [InlineData("registry:///user-api", "user-api")]
    [InlineData("registry:///..", "..")]
    [InlineData("registry:///.", ".")]
    [InlineData("registry:///%2E%2E", "..")]
    [InlineData("registry:///a.b?x=1#f", "a.b")]
    public void The_service_is_read_as_written(string address, string service) =>
        Assert.Equal(service, RegistryResolverFactory.ServiceOf(new Uri(address)));

    [Fact]
    public async Task Dispose_returns_only_after_the_result_being_handed_to_the_channel()
    {
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        var resolver = new RegistryResolver($"svc{Guid.NewGuid():N}"[..12], process.System);
        var inside = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();
        var delivered = 0;
        resolver.Start(_ =>
        {
            inside.Release();
            release.Wait();
            Interlocked.Increment(ref delivered);
        });
        await inside.WaitAsync(TimeSpan.FromSeconds(10));

        var dispose = Task.Run(resolver.Dispose);
        try
        {
            // A window for a Dispose that does not wait: it would return while the result is still being handed over,
            // and the channel would then dispose its balancer under an update.
            Assert.NotSame(dispose, await Task.WhenAny(dispose, Task.Delay(TimeSpan.FromMilliseconds(300))));
        }
        finally
        {
            release.Set();
        }
        await dispose.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(1, Volatile.Read(ref delivered));
    }

    /// <summary>
    /// Calls until <see cref="Window"/> consecutive calls were served by exactly <paramref name="expected"/> (each of
    /// them at least once, no other): membership changes take a moment to reach the channel.
    /// </summary>
    private static async Task ServedByAsync(UserService.UserServiceClient client, string[] expected)
    {
        var recent = new Queue<string>();
        var seen = new List<string>();
        var until = DateTime.UtcNow + Eventually.Patience;
        while (true)
        {
            var reply = await client.GetUserInfoAsync(new GetUserInfoRequest { Id = 7 }, deadline: DateTime.UtcNow.AddSeconds(5));
            seen.Add(reply.ServedBy);
            recent.Enqueue(reply.ServedBy);
            if (recent.Count > Window) recent.Dequeue();
            if (recent.Count == Window && recent.Distinct().Order().SequenceEqual(expected.Order())) return;
            if (DateTime.UtcNow > until)
                throw new Xunit.Sdk.XunitException($"calls never settled on [{string.Join(", ", expected)}]; last: [{string.Join(", ", seen.TakeLast(Window))}]");
        }
    }
}
