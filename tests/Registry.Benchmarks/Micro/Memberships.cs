using System.Collections.Immutable;
using Akka.Actor;
using Registry.Balancing;

namespace Registry.Benchmarks.Micro;

/// <summary>Hand-made memberships for the micro-benchmarks: no etcd, the same balancer code a client runs.</summary>
internal static class Memberships
{
    public const string Service = "bench";

    /// <summary><paramref name="count"/> instances with weights 1..4, as a real fleet with mixed sizes would register.</summary>
    public static ImmutableArray<ServiceInstance> Of(int count) =>
        [.. Enumerable.Range(0, count).Select(i => ServiceInstance.Create(Service, $"10.0.{i / 250}.{i % 250 + 1}:8080") with { Weight = i % 4 + 1 })];

    /// <summary>A hot-path balancer with <paramref name="policy"/> over <paramref name="count"/> instances.</summary>
    public static ServiceBalancer Balancer(string policy, int count)
    {
        var settings = BalancingSettings.Default;
        var balancer = new ServiceBalancer(Service, LoadBalancingPolicies.Create(policy, settings), settings);
        balancer.Publish(Of(count), stale: false);
        return balancer;
    }

    /// <summary>
    /// Stands in for the discovery actor: answers <see cref="SubscribeMembership"/> with a snapshot of
    /// <paramref name="count"/> instances, as a WatcherActor does after its first listing, then completes
    /// <paramref name="answered"/>: a message sent to the subscriber after that reaches it behind the snapshot.
    /// </summary>
    public static Props FixedDiscovery(int count, TaskCompletionSource answered) =>
        Props.Create(() => new FixedDiscoveryActor(Of(count), answered));

    private sealed class FixedDiscoveryActor : ReceiveActor
    {
        public FixedDiscoveryActor(ImmutableArray<ServiceInstance> instances, TaskCompletionSource answered)
        {
            Receive<SubscribeMembership>(s =>
            {
                Sender.Tell(new MembershipSnapshot(s.Service, instances, 1, false));
                answered.TrySetResult();
            });
            Receive<UnsubscribeMembership>(_ => { });
        }
    }
}
