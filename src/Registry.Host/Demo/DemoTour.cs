using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Registry.Host.Cli;
using Registry.Host.Client;

namespace Registry.Host.Demo;

/// <summary>
/// The tour <c>registry demo</c> gives: a throw-away etcd, three <c>registry serve</c> instances, a client calling
/// them through the balancer; one instance stopped gracefully and one killed while the calls go on; the membership
/// changes as a client sees them and the calls each instance served.
/// </summary>
internal sealed class DemoTour(CliIo io, LogLevel logLevel)
{
    private const string Service = "user";
    private const int Ttl = 3;
    private const int Instances = 3;
    private static readonly TimeSpan Phase = TimeSpan.FromSeconds(5);
    private readonly Stopwatch _clock = Stopwatch.StartNew();

    public async Task<int> RunAsync(CancellationToken ct)
    {
        Say("a tour of Registry on a throw-away etcd");
        await using var etcd = await ThrowAwayEtcd.StartAsync(ct);
        Say($"etcd started at {etcd.Endpoint} (data in {etcd.DataDir}, removed at the end)");

        using var host = CliHost.Build(new CommonSettings([etcd.Endpoint], InstanceCodec.DefaultPrefix, logLevel));
        await host.StartAsync(ct);
        // SIGINT and SIGTERM stop the host: the tour ends there, and cleans up.
        using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(ct, host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
        ct = interrupted.Token;
        var system = host.Services.GetRequiredService<ActorSystem>();
        var registry = ServiceRegistry.Get(system);
        registry.Discovery.Tell(new SubscribeMembership(Service), system.ActorOf(MembershipPrinter.Props(Print)));

        var servers = new List<ServeProcess>();
        try
        {
            Say($"starting {Instances} instances of '{Service}' with `registry serve` (TTL {Ttl}s); each registers once it listens");
            for (var i = 0; i < Instances; i++)
                servers.Add(ServeProcess.Start(etcd.Endpoint, Service, $"127.0.0.1:{ThrowAwayEtcd.FreePort()}", Ttl, drainSeconds: 1));

            await using var client = await BalancedUserClient.CreateAsync(system, Service, "round-robin", UserCallSettings.Default, ct);
            await WaitAsync(() => client.Balancer.Members.Length == Instances, TimeSpan.FromSeconds(20), "the instances to register", ct);

            Say("a client calls GetUserInfo through the round-robin balancer, 4 calls at a time");
            using var stopCalls = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var calls = CallLoad.RunAsync(client, count: null, duration: null, concurrency: 4, stop: stopCalls.Token);
            await Task.Delay(Phase, ct);

            var stopped = servers[0];
            Say($"stopping {stopped.Address} with SIGTERM: it deregisters, drains 1s so clients see it leave, then exits");
            var exit = await stopped.StopAsync();
            Say($"{stopped.Address} exited with code {exit}");
            await Task.Delay(Phase, ct);

            var killed = servers[1];
            Say($"killing {killed.Address} with SIGKILL: its key stays until its lease expires (≤ {Ttl}s); the client retries elsewhere and ejects it");
            await killed.KillAsync();
            await WaitAsync(() => client.Balancer.Members.All(m => m.Address != killed.Address), TimeSpan.FromSeconds(Ttl + 5), "the lease to expire", ct);
            await Task.Delay(Phase, ct);

            await stopCalls.CancelAsync();
            var summary = await calls;
            Say("calls per instance:");
            foreach (var (id, count) in summary.ByInstance.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                io.WriteLine(string.Create(CultureInfo.InvariantCulture, $"    {id,-21} {count,7}"));
            io.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"    {summary.Calls} calls, {summary.Failures} failed, p50 {summary.P50Ms:0.###} ms, p99 {summary.P99Ms:0.###} ms"));
            return summary.Failures == 0 ? RegistryCommand.Ok : RegistryCommand.Failed;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            Say("interrupted");
            return RegistryCommand.Failed;
        }
        finally
        {
            Say("stopping the remaining instances and etcd");
            foreach (var server in servers) await server.DisposeAsync();
            await host.StopAsync(CancellationToken.None);
        }
    }

    private void Print(MembershipEvent e)
    {
        switch (e)
        {
            case MembershipSnapshot s:
                Say($"membership of '{s.Service}' at revision {s.Revision}: {s.Instances.Length} instance(s)");
                break;
            case InstanceUp up:
                Say($"membership: + {up.Instance.Address} (revision {up.Revision})");
                break;
            case InstanceDown down:
                Say($"membership: - {down.Instance.Address} (revision {down.Revision})");
                break;
            case InstanceUpdated updated:
                Say($"membership: ~ {updated.Instance.Address} (revision {updated.Revision})");
                break;
            case MembershipStale stale:
                Say(stale.Stale ? $"membership is stale: {stale.Reason}" : "membership is live again");
                break;
        }
    }

    private void Say(string line) => io.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{_clock.Elapsed.TotalSeconds,5:0.0}s] {line}"));

    private static async Task WaitAsync(Func<bool> done, TimeSpan timeout, string what, CancellationToken ct)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(timeout);
        try
        {
            // The balancer's snapshot is read without a round trip; a short poll is the cheapest wait on it.
            while (!done()) await Task.Delay(50, limit.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"gave up waiting {timeout.TotalSeconds:0}s for {what}");
        }
    }
}
