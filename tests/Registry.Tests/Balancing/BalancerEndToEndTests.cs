using Akka.Actor;
using Registry.Tests.Infrastructure;
using Registry.Tests.Registration;

namespace Registry.Tests.Balancing;

/// <summary>Registration, discovery and balancing together on a real etcd, through the public entry points.</summary>
public sealed class BalancerEndToEndTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task The_balancer_follows_registrations_and_deregistrations()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 10);
        var service = $"svc{Guid.NewGuid():N}"[..12];
        var instances = Enumerable.Range(1, 3).Select(n => ServiceInstance.Create(service, $"10.0.0.{n}:80")).ToList();
        foreach (var instance in instances) await registry.RegisterAsync(instance);
        var extension = ServiceRegistry.Get(registry.System);
        var balancer = await extension.BalancerAsync(service, "round-robin");

        // Registered before the balancer started: its first listing holds them all.
        await balancer.WhenKnownAsync().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, balancer.Members.Length);
        var picked = Enumerable.Range(0, 6).Select(_ =>
        {
            var call = balancer.Pick();
            call.Succeed();
            return call.Instance!.Id;
        }).ToList();
        Assert.Equal(instances.Select(i => i.Id).Order(), picked.Distinct().Order());

        await registry.Supervisor.Ask<Deregistered>(new Deregister(service, instances[0].Id), TimeSpan.FromSeconds(10));
        await WaitUntilAsync(() => balancer.Members.Length == 2);
        var reply = await extension.Balancer(service, "round-robin").Ask<object>(new Pick(), TimeSpan.FromSeconds(5));
        Assert.NotEqual(instances[0].Id, Assert.IsType<Picked>(reply).Instance.Id);
    }

    [Fact]
    public async Task An_unknown_policy_is_refused_naming_the_valid_ones()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint]);

        var error = Assert.Throws<ArgumentException>(() => ServiceRegistry.Get(registry.System).Balancer("user", "fastest"));

        Assert.Contains("random, round-robin, weighted, p2c, hash", error.Message);
    }

    [Fact]
    public async Task A_policy_of_your_own_picks_for_the_balancer()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 10);
        var service = $"svc{Guid.NewGuid():N}"[..12];
        foreach (var n in new[] { 1, 2, 3 }) await registry.RegisterAsync(ServiceInstance.Create(service, $"10.0.0.{n}:80"));
        var extension = ServiceRegistry.Get(registry.System);
        var balancer = extension.Balancer(service, new LastInstancePolicy());

        var hotPath = await extension.BalancerAsync(service, new LastInstancePolicy());
        await hotPath.WhenKnownAsync().WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Equal("10.0.0.3:80", hotPath.PickId());
        Assert.Equal("10.0.0.3:80", (await balancer.Ask<Picked>(new Pick(), TimeSpan.FromSeconds(5))).Instance.Id);
    }

    [Fact]
    public async Task Balancers_of_different_services_and_policies_never_share_an_actor()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint]);
        var extension = ServiceRegistry.Get(registry.System);

        var custom = extension.Balancer("x-round", new NamedPolicy("robin"));
        var builtIn = extension.Balancer("x", "round-robin");

        Assert.NotEqual(custom, builtIn);
        Assert.Equal(builtIn, extension.Balancer("x", "round-robin"));
    }

    private sealed class NamedPolicy(string name) : ILoadBalancingPolicy
    {
        public string Name => name;

        public int Pick(AvailableInstances instances, string? key) => 0;
    }

    [Fact]
    public async Task A_balancer_that_stopped_is_started_again_on_next_use()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 10);
        var service = $"svc{Guid.NewGuid():N}"[..12];
        await registry.RegisterAsync(ServiceInstance.Create(service, "10.0.0.1:80"));
        var extension = ServiceRegistry.Get(registry.System);
        var first = extension.Balancer(service, "round-robin");

        first.Tell(Kill.Instance);
        await first.WatchAsync();

        // Forgotten once it stopped: the next use starts another balancer, which picks.
        await WaitUntilAsync(() => !extension.Balancer(service, "round-robin").Equals(first));
        var hotPath = await extension.BalancerAsync(service, "round-robin");
        await WaitUntilAsync(() => hotPath.Members.Length == 1);
        Assert.Equal("10.0.0.1:80", (await extension.Balancer(service, "round-robin").Ask<Picked>(new Pick(), TimeSpan.FromSeconds(5))).Instance.Id);
    }

    [Fact]
    public async Task Balancers_asked_for_while_the_registry_closes_are_refused_and_none_is_started_behind_the_stop()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint]);
        var extension = ServiceRegistry.Get(registry.System);
        var balancer = extension.Balancer("user", "round-robin");
        var stopped = balancer.WatchAsync();

        // Asked for all through the stop: the one running until the registry closes, then a clear refusal, so no
        // balancer is started behind the stop.
        var shutdown = CoordinatedShutdown.Get(registry.System).Run(CoordinatedShutdown.ClrExitReason.Instance);
        var answers = new HashSet<IActorRef>();
        var refusals = new HashSet<string>();
        while (!shutdown.IsCompleted)
        {
            try
            {
                answers.Add(extension.Balancer("user", "round-robin"));
            }
            catch (InvalidOperationException e)
            {
                refusals.Add(e.Message);
            }
            await Task.Delay(1);
        }
        await shutdown;

        Assert.True(await stopped);
        Assert.Equal(balancer, Assert.Single(answers));
        var closing = $"the registry of actor system '{registry.System.Name}' is closing: no balancer of 'user' to give";
        Assert.All(refusals, refusal => Assert.Equal(closing, refusal));
        Assert.Equal(closing, Assert.Throws<InvalidOperationException>(() => extension.Balancer("user", "round-robin")).Message);
        Assert.Equal(closing.Replace("'user'", "'other'"), Assert.Throws<InvalidOperationException>(() => extension.Balancer("other")).Message);
        await Assert.ThrowsAsync<InvalidOperationException>(() => extension.BalancerAsync("user"));
        // A caller that gave up first hears that, not the closing.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => extension.BalancerAsync("user", ct: new CancellationToken(canceled: true)));
    }

    [Fact]
    public async Task A_balancer_past_the_closing_check_when_the_close_begins_is_refused_not_started_behind_the_stop()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint]);
        var extension = ServiceRegistry.Get(registry.System);
        var running = extension.Balancer("user");
        var runningStopped = running.WatchAsync();
        // A caller past the closing check, held before the start of its balancer while the close begins.
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var release = new ManualResetEventSlim();
        extension.BalancerStarting = service =>
        {
            if (service != "late") return;
            held.TrySetResult();
            release.Wait();
        };
        var late = Task.Run(() => extension.Balancer("late"));
        Task shutdown;
        try
        {
            await held.Task.WaitAsync(TimeSpan.FromSeconds(10));
            shutdown = CoordinatedShutdown.Get(registry.System).Run(CoordinatedShutdown.ClrExitReason.Instance);
            // The close has taken its list of the balancers running: it stopped the one there.
            Assert.True(await runningStopped.WaitAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            release.Set();
        }

        var refused = await Assert.ThrowsAsync<InvalidOperationException>(() => late);
        Assert.Equal($"the registry of actor system '{registry.System.Name}' is closing: no balancer of 'late' to give", refused.Message);
        await shutdown.WaitAsync(TimeSpan.FromSeconds(30));
    }

    [Fact]
    public async Task A_policy_without_a_name_is_refused_saying_so()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint]);

        var error = Assert.Throws<ArgumentException>(() => ServiceRegistry.Get(registry.System).Balancer("user", new NamelessPolicy()));

        Assert.Contains("the load-balancing policy has no name", error.Message);
        Assert.Equal("policy", Assert.Throws<ArgumentNullException>(() => ServiceRegistry.Get(registry.System).Balancer("user", (ILoadBalancingPolicy)null!)).ParamName);
    }

    [Fact]
    public async Task A_policy_of_your_own_named_as_a_built_in_one_is_refused_as_the_two_would_share_a_balancer()
    {
        await using var registry = new RegistryUnderTest([etcd.Endpoint]);
        var extension = ServiceRegistry.Get(registry.System);
        var builtIn = extension.Balancer("user", "round-robin");

        var error = Assert.Throws<ArgumentException>(() => extension.Balancer("user", new NamedPolicy("round-robin")));

        Assert.StartsWith("the load-balancing policy's name 'round-robin' is that of a built-in policy; give yours another " +
                          "(built-in: random, round-robin, weighted, p2c, hash)", error.Message);
        Assert.Equal(builtIn, extension.Balancer("user", "round-robin"));
        await Assert.ThrowsAsync<ArgumentException>(() => extension.BalancerAsync("user", new NamedPolicy("hash")));
    }

    private sealed class NamelessPolicy : ILoadBalancingPolicy
    {
        public string Name => "";

        public int Pick(AvailableInstances instances, string? key) => 0;
    }

    /// <summary>A deliberately odd policy: always the last instance by id.</summary>
    private sealed class LastInstancePolicy : ILoadBalancingPolicy
    {
        public string Name => "last";

        public int Pick(AvailableInstances instances, string? key) => instances.Count - 1;
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(20, timeout.Token);
        }
    }
}
