using Akka.Configuration;
using Registry.Balancing;

namespace Registry.Tests.Balancing;

/// <summary>Builds balancers over hand-made memberships.</summary>
internal static class Balancers
{
    /// <summary>No jitter, so ejection deadlines are exact.</summary>
    public static readonly BalancingSettings Exact = Settings("registry.balancing.ejection { base-backoff = 1s, max-backoff = 8s, random-factor = 0 }");

    public static BalancingSettings Settings(string hocon) => BalancingSettings.From(ConfigurationFactory.ParseString(hocon));

    public static ServiceInstance Instance(string id, int weight = 1, string? address = null) =>
        ServiceInstance.Create("user", address ?? $"{id}.local:8080", id) with { Weight = weight };

    public static ServiceInstance[] Instances(params string[] ids) => ids.Select(id => Instance(id)).ToArray();

    public static ServiceBalancer Create(string policy, IEnumerable<ServiceInstance> members, BalancingSettings? settings = null, TimeProvider? time = null)
    {
        settings ??= Exact;
        var balancer = new ServiceBalancer("user", LoadBalancingPolicies.Create(policy, settings), settings, time);
        balancer.Publish([.. members], stale: false);
        return balancer;
    }

    /// <summary>Picks <paramref name="count"/> times, ending each call at once, and counts picks per id.</summary>
    public static Dictionary<string, int> Tally(ServiceBalancer balancer, int count, Func<int, string?>? key = null)
    {
        var tally = balancer.Members.ToDictionary(m => m.Id, _ => 0);
        for (var i = 0; i < count; i++)
        {
            var call = balancer.Pick(key?.Invoke(i));
            Assert.True(call.HasInstance);
            tally[call.Instance.Id]++;
            call.Release();
        }
        return tally;
    }

    /// <summary>The id picked for one call, ended at once.</summary>
    public static string PickId(this ServiceBalancer balancer, string? key = null)
    {
        var call = balancer.Pick(key);
        Assert.True(call.HasInstance, balancer.UnavailableReason);
        call.Release();
        return call.Instance.Id;
    }

    public static string[] AvailableIds(this ServiceBalancer balancer) => balancer.Available.Select(i => i.Id).ToArray();
}
