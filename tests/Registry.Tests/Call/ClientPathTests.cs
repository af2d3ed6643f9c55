using System.Collections.Concurrent;
using System.Text.RegularExpressions;
using Grpc.Core;
using Registry.Balancing;
using Registry.Host.Client;
using Registry.Tests.Balancing;
using Registry.Tests.Infrastructure;
using Registry.Tests.Registration;

namespace Registry.Tests.Call;

/// <summary>
/// The client path (balancer hot path, channel per instance, retries on another instance) under continuous calls
/// against three real in-process UserService instances registered in a real etcd.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class ClientPathTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private const int Concurrency = 4;

    [Fact]
    public async Task Rolling_restart_of_three_instances_under_continuous_calls_fails_no_call()
    {
        await using var fixture = await Fixture.StartAsync(etcd, ttlSeconds: 10);

        foreach (var server in fixture.Servers)
        {
            await fixture.CallsLandOnAsync(server.Id);
            await server.StopGracefullyAsync(drained: () =>
                Eventually.UntilAsync(() => fixture.Client.Balancer.Members.All(m => m.Id != server.Id), $"{server.Id} to leave the balancer"));
            await Eventually.UntilAsync(() => !fixture.Client.ChannelAddresses.Contains(server.Address), $"the channel to {server.Address} to be retired");
            await server.StartAsync();
            await Eventually.UntilAsync(() => fixture.Client.Balancer.Available.Any(m => m.Id == server.Id), $"{server.Id} to be back in the balancer");
            await fixture.CallsLandOnAsync(server.Id);
        }
        var summary = await fixture.StopCallingAsync();

        Assert.Equal(0, summary.Failures);
        Assert.Equal(fixture.Servers.Select(s => s.Id).Order(), summary.ByInstance.Keys.Order());
    }

    [Fact]
    public async Task Killed_instance_is_ejected_before_its_lease_expires_and_no_call_fails()
    {
        await using var fixture = await Fixture.StartAsync(etcd, ttlSeconds: 10);
        var victim = fixture.Servers[0];
        using var client = etcd.CreateClient();
        foreach (var server in fixture.Servers) await fixture.CallsLandOnAsync(server.Id);

        await victim.KillAsync();

        await Eventually.UntilAsync(() => fixture.Client.Balancer.Available.All(m => m.Id != victim.Id), $"{victim.Id} to be ejected");
        // Ejected by the callers' passive health while the registry still lists it: its lease is alive.
        Assert.NotNull(await client.GetAsync(victim.Key));
        Assert.Contains(fixture.Client.Balancer.Members, m => m.Id == victim.Id);
        // Calls go on while the lease runs out (re-admissions after each back-off fail once and are retried elsewhere).
        await Eventually.UntilAsync(() => fixture.Client.Balancer.Members.All(m => m.Id != victim.Id), $"the lease of {victim.Id} to expire",
            TimeSpan.FromSeconds(30));
        foreach (var server in fixture.Servers.Skip(1)) await fixture.CallsLandOnAsync(server.Id);
        var summary = await fixture.StopCallingAsync();

        Assert.Equal(0, summary.Failures);
        Assert.True(fixture.Retried > 0, "no call needed a retry: the kill was not exercised");
    }

    public static TheoryData<string> Policies => [.. LoadBalancingPolicies.Names];

    [Theory]
    [MemberData(nameof(Policies))]
    public async Task A_retry_goes_to_an_instance_not_tried_yet_when_failing_ones_stay_in(string policy)
    {
        // Two of three registered addresses refuse connections: with at most half ejected, one of them always stays
        // in, and only a retry that skips what it tried reaches the healthy instance within three attempts.
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var good = await UserServer.StartNewAsync([etcd.Endpoint], service);
        await using var process = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 30);
        foreach (var port in FreePorts.Take(2)) await process.RegisterAsync(ServiceInstance.Create(service, $"127.0.0.1:{port}"));
        await using var client = await BalancedUserClient.CreateAsync(process.System, service, policy, UserCallSettings.Default);
        await Eventually.UntilAsync(() => client.Balancer.Available.Count == 3, "the balancer to see three instances");
        var failures = new ConcurrentQueue<string>();

        var summary = await CallLoad.RunAsync(client, count: 400, duration: null, Concurrency,
            (id, outcome) => { if (!outcome.Succeeded) failures.Enqueue($"call {id}: {outcome.Error}"); });

        Assert.True(summary.Failures == 0, $"{summary.Failures} of 400 call(s) failed, e.g. {string.Join("; ", failures.Take(3))}");
        Assert.Equal(400, summary.ByInstance.GetValueOrDefault(good.Id));
    }

    [Fact]
    public async Task A_value_written_by_another_with_an_address_that_is_no_uri_is_skipped_and_calls_go_on()
    {
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var good = await UserServer.StartNewAsync([etcd.Endpoint], service);
        using (var writer = etcd.CreateClient())
            await writer.PutAsync($"/services/{service}/typo", $$"""{"service":"{{service}}","id":"typo","address":"api..example.com:8080"}""");
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        await using var client = await BalancedUserClient.CreateAsync(process.System, service, "round-robin", UserCallSettings.Default);
        // One listing holds both keys: once the good one is in, the typo was read too.
        await Eventually.UntilAsync(() => client.Balancer.Members.Any(m => m.Id == good.Id), "the balancer to see the server");

        var summary = await CallLoad.RunAsync(client, count: 20, duration: null, concurrency: 2);

        Assert.Equal(20, summary.ByInstance.GetValueOrDefault(good.Id));
        Assert.Equal([good.Id], client.Balancer.Members.Select(m => m.Id));
    }

    [Fact]
    public async Task An_instance_whose_channel_cannot_be_created_fails_its_calls_and_they_go_to_another()
    {
        // Validation refuses an address that is no URI, so none is registered or reaches a balancer through discovery;
        // this one is handed to the balancer directly, as one that slipped through would be.
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var good = await UserServer.StartNewAsync([etcd.Endpoint], service);
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        var broken = ServiceInstance.Create(service, "a|b:80");
        Assert.Throws<UriFormatException>(() => new Uri($"http://{broken.Address}"));
        var balancer = Balancers.Create("round-robin", [broken, ServiceInstance.Create(service, good.Address)]);
        await using var client = new BalancedUserClient(balancer, new InstanceChannels(process.System, service, UserCallSettings.Default), UserCallSettings.Default);

        var summary = await CallLoad.RunAsync(client, count: 20, duration: null, concurrency: 2);

        Assert.Equal(20, summary.ByInstance.GetValueOrDefault(good.Id));
        Assert.DoesNotContain(balancer.Available, i => i.Id == broken.Id);
        Assert.Equal(0, balancer.Find(broken.Id)!.Outstanding);
    }

    [Fact]
    public async Task A_hung_instance_is_ejected_once_three_calls_in_a_row_time_out_on_it()
    {
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var hung = await UserServer.StartNewAsync([etcd.Endpoint], service, hung: true);
        await using var first = await UserServer.StartNewAsync([etcd.Endpoint], service);
        await using var second = await UserServer.StartNewAsync([etcd.Endpoint], service);
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        // An ejection long enough to outlast the calls, whatever the machine's speed.
        var settings = Balancers.Settings("registry.balancing.ejection { base-backoff = 10m, max-backoff = 10m }");
        var balancer = Balancers.Create("round-robin", new[] { hung, first, second }.Select(s => ServiceInstance.Create(service, s.Address)), settings);
        // Long enough for the healthy instances' first calls (a cold connection, four test classes at once on 2 cores).
        var calls = UserCallSettings.WithDeadline(TimeSpan.FromMilliseconds(1500));
        await using var client = new BalancedUserClient(balancer, new InstanceChannels(process.System, service, calls), calls);

        // One call at a time, round-robin: every third lands on the hung instance until it is ejected.
        var outcomes = new List<CallOutcome>();
        for (var id = 0; id < 30; id++) outcomes.Add(await client.GetUserInfoAsync(id));

        var failed = outcomes.Where(o => !o.Succeeded).ToList();
        Assert.Equal(3, failed.Count);
        // The client's own deadline has no detail; the server's, when its answer wins the race, says "Deadline Exceeded".
        Assert.All(failed, o => Assert.Matches($"^{Regex.Escape(hung.Id)}: DeadlineExceeded(: Deadline Exceeded)?$", o.Error));
        Assert.Equal(27, outcomes.Count(o => o.Succeeded && o.InstanceId != hung.Id));
        Assert.DoesNotContain(balancer.Available, i => i.Id == hung.Id);
        Assert.Equal(0, balancer.Find(hung.Id)!.Outstanding);
    }

    [Theory]
    [InlineData(StatusCode.DeadlineExceeded, ConnectivityState.Connecting, false, true)]
    [InlineData(StatusCode.DeadlineExceeded, ConnectivityState.Idle, false, true)]
    [InlineData(StatusCode.DeadlineExceeded, ConnectivityState.Connecting, true, false)]
    [InlineData(StatusCode.DeadlineExceeded, ConnectivityState.Ready, false, false)]
    [InlineData(StatusCode.Unavailable, ConnectivityState.Ready, true, true)]
    [InlineData(StatusCode.NotFound, ConnectivityState.Ready, false, false)]
    public void A_deadline_missed_while_connecting_says_the_instance_is_gone_unless_the_attempt_had_only_what_was_left(
        StatusCode code, ConnectivityState state, bool shortened, bool gone) =>
        Assert.Equal(gone, BalancedUserClient.IsInstanceGone(new RpcException(new Status(code, "")), state, shortened));

    [Fact]
    public async Task An_attempt_shortened_to_what_is_left_of_the_budget_ejects_nothing_when_it_runs_out()
    {
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var first = await UserServer.StartNewAsync([etcd.Endpoint], service, hung: true);
        await using var second = await UserServer.StartNewAsync([etcd.Endpoint], service, hung: true);
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        // Two instances, so one may be ejected (never all of them).
        var balancer = Balancers.Create("round-robin", new[] { first, second }.Select(s => ServiceInstance.Create(service, s.Address)));
        // A budget shorter than one attempt's deadline: the only attempt gets 3 ms, on a channel still connecting.
        var calls = UserCallSettings.Default with { Budget = TimeSpan.FromMilliseconds(3) };
        await using var client = new BalancedUserClient(balancer, new InstanceChannels(process.System, service, calls), calls);

        var outcome = await client.GetUserInfoAsync(1);

        Assert.False(outcome.Succeeded);
        Assert.Equal(1, outcome.Attempts);
        Assert.Contains(": DeadlineExceeded", outcome.Error);
        Assert.Equal(2, balancer.Available.Count);
        Assert.All(balancer.Members, m => Assert.Equal(0, balancer.Find(m.Id)!.Outstanding));
    }

    [Fact]
    public async Task A_stopped_load_cuts_the_calls_still_in_flight_after_its_grace_and_counts_them_apart()
    {
        var service = $"user{Guid.NewGuid():N}"[..12];
        await using var hung = await UserServer.StartNewAsync([etcd.Endpoint], service, hung: true);
        await using var process = new RegistryUnderTest([etcd.Endpoint]);
        var balancer = Balancers.Create("round-robin", [ServiceInstance.Create(service, hung.Address)]);
        // Calls that would wait ten minutes for their deadline.
        var calls = UserCallSettings.WithDeadline(TimeSpan.FromMinutes(10));
        await using var client = new BalancedUserClient(balancer, new InstanceChannels(process.System, service, calls), calls);
        using var stop = new CancellationTokenSource();

        var load = CallLoad.RunAsync(client, count: null, duration: null, concurrency: 2, stop: stop.Token);
        await Eventually.UntilAsync(() => balancer.Find(hung.Id)!.Outstanding == 2, "both workers' calls to be in flight");
        stop.Cancel();
        var summary = await load.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(2, summary.Cut);
        Assert.Equal(0, summary.Calls);
        Assert.Equal(0, balancer.Find(hung.Id)!.Outstanding);
    }

    /// <summary>Three registered servers, a client process calling them continuously, and what the calls did so far.</summary>
    private sealed class Fixture : IAsyncDisposable
    {
        private readonly RegistryUnderTest _process;
        private readonly ConcurrentDictionary<string, long> _served = new();
        private readonly ConcurrentQueue<string> _failures = new();
        private readonly CancellationTokenSource _stop = new();
        private Task<CallSummary>? _load;
        private long _retried;

        private Fixture(RegistryUnderTest process, IReadOnlyList<UserServer> servers, BalancedUserClient client)
        {
            _process = process;
            Servers = servers;
            Client = client;
        }

        public IReadOnlyList<UserServer> Servers { get; }

        public BalancedUserClient Client { get; }

        /// <summary>Calls that succeeded after more than one attempt.</summary>
        public long Retried => Interlocked.Read(ref _retried);

        public static async Task<Fixture> StartAsync(EtcdNode etcd, long ttlSeconds)
        {
            var service = $"user{Guid.NewGuid():N}"[..12];
            var servers = new List<UserServer>();
            for (var i = 0; i < 3; i++) servers.Add(await UserServer.StartNewAsync([etcd.Endpoint], service, ttlSeconds));
            var process = new RegistryUnderTest([etcd.Endpoint]);
            var client = await BalancedUserClient.CreateAsync(process.System, service, "round-robin", UserCallSettings.Default);
            await Eventually.UntilAsync(() => client.Balancer.Available.Count == 3, "the balancer to see three instances");
            var fixture = new Fixture(process, servers, client);
            fixture._load = CallLoad.RunAsync(client, count: null, duration: null, Concurrency, fixture.Record, fixture._stop.Token);
            return fixture;
        }

        /// <summary>Waits until a few more calls than now were served by <paramref name="id"/>.</summary>
        public Task CallsLandOnAsync(string id)
        {
            var target = _served.GetValueOrDefault(id) + 20;
            return Eventually.UntilAsync(() => _served.GetValueOrDefault(id) >= target || _load!.IsCompleted, $"calls on {id}");
        }

        public async Task<CallSummary> StopCallingAsync()
        {
            await _stop.CancelAsync();
            var summary = await _load!;
            Assert.True(_failures.IsEmpty, $"{_failures.Count} call(s) failed, e.g. {string.Join("; ", _failures.Take(3))}");
            return summary;
        }

        private void Record(long id, CallOutcome outcome)
        {
            if (!outcome.Succeeded)
            {
                _failures.Enqueue($"call {id}: {outcome.Error}");
                return;
            }
            _served.AddOrUpdate(outcome.InstanceId!, 1, (_, n) => n + 1);
            if (outcome.Attempts > 1) Interlocked.Increment(ref _retried);
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            if (_load is not null) await _load.ContinueWith(_ => { }, TaskScheduler.Default);
            await Client.DisposeAsync();
            await _process.DisposeAsync();
            foreach (var server in Servers) await server.DisposeAsync();
            _stop.Dispose();
        }
    }
}
