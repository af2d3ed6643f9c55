using Akka;
using Akka.Actor;
using Registry.Tests.Balancing;
using Registry.Tests.Infrastructure;
using Registry.Tests.Registration;

namespace Registry.Tests.Hosting;

/// <summary>
/// The registry's close in CoordinatedShutdown's <c>before-actor-system-terminate</c> phase: the followers stop, then
/// the etcd client closes, all within the phase. Wall-clock: the phase's timeout and the stops' are real time, so it
/// runs with the other wall-clock tests, one at a time.
/// </summary>
[Collection(WallClockFaults.Name)]
public sealed class RegistryCloseTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task A_balancer_that_does_not_stop_holds_the_close_for_a_third_of_its_phase_not_past_it()
    {
        // A 9 s phase: each stop may take 3 s. The call timeout, which bounded each stop before, is longer than the phase.
        // A phase of the test's own runs when the close's phase is over, done or timed out, before the system terminates.
        await using var registry = new RegistryUnderTest([etcd.Endpoint], ttlSeconds: 30, hocon: """
            registry.etcd.call-timeout = 20s
            akka.coordinated-shutdown.phases {
              before-actor-system-terminate.timeout = 9s
              after-registry-close.depends-on = [before-actor-system-terminate]
              actor-system-terminate.depends-on = [after-registry-close]
            }
            """);
        var service = $"close{Guid.NewGuid():N}"[..12];
        await registry.RegisterAsync(ServiceInstance.Create(service, "10.0.0.1:80"));
        var extension = ServiceRegistry.Get(registry.System);
        // Held while it builds its first snapshot (the instance above), the balancer takes no PoisonPill until released.
        var policy = new GatedPreparePolicy();
        policy.Gate.Reset();
        extension.Balancer(service, policy);
        Assert.True(policy.Preparing.Wait(Wait), "the balancer never saw the instance");
        var discoveryStopped = extension.Discovery.WatchAsync();
        var whenPhaseEnded = new TaskCompletionSource<(bool DiscoveryStopped, Exception? List)>(TaskCreationOptions.RunContinuationsAsynchronously);
        var shutdown = CoordinatedShutdown.Get(registry.System);
        shutdown.AddTask("after-registry-close", "look-and-release", async () =>
        {
            Exception? list = null;
            try
            {
                await extension.Store.ListAsync($"/services/{service}/", CancellationToken.None);
            }
            catch (Exception e)
            {
                list = e;
            }
            whenPhaseEnded.TrySetResult((discoveryStopped.IsCompleted, list));
            policy.Gate.Set();
            return Done.Instance;
        });

        try
        {
            await shutdown.Run(CoordinatedShutdown.ClrExitReason.Instance).WaitAsync(Wait);
        }
        finally
        {
            policy.Gate.Set();
        }

        var (stopped, listed) = await whenPhaseEnded.Task;
        Assert.True(stopped, "discovery was still running when the close's phase ended");
        // The close's last step: the client is closed, so the store takes no call.
        Assert.IsType<ObjectDisposedException>(listed);
    }
}
