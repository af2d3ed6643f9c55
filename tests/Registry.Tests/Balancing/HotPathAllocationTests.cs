using Registry.Balancing;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Balancing;

public sealed class HotPathAllocationTests
{
    public static TheoryData<string> Policies => [.. LoadBalancingPolicies.Names];

    [Theory]
    [MemberData(nameof(Policies))]
    public void Picking_and_ending_calls_allocates_nothing(string policy)
    {
        var balancer = Balancers.Create(policy, Enumerable.Range(0, 8).Select(i => Balancers.Instance($"node-{i}", weight: i + 1)));
        var keys = Enumerable.Range(0, 64).Select(i => $"user-{i}").ToArray();
        Run(balancer, keys, 10_000);

        var allocated = Allocations.Least(() => Run(balancer, keys, 100_000));

        Assert.Equal(0, allocated);
    }

    [Theory]
    [MemberData(nameof(Policies))]
    public void Picking_a_retry_allocates_nothing(string policy)
    {
        var balancer = Balancers.Create(policy, Enumerable.Range(0, 8).Select(i => Balancers.Instance($"node-{i}", weight: i + 1)));
        var keys = Enumerable.Range(0, 64).Select(i => $"user-{i}").ToArray();
        string[] tried = ["node-0", "node-3"];
        RunRetries(balancer, keys, tried, 10_000);

        var allocated = Allocations.Least(() => RunRetries(balancer, keys, tried, 100_000));

        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData("weighted")]
    [InlineData("hash")]
    public void The_first_pick_after_a_membership_change_builds_nothing(string policy)
    {
        var members = Enumerable.Range(0, 64).Select(i => Balancers.Instance($"node-{i}", weight: i % 3 + 1)).ToArray();
        var balancer = Balancers.Create(policy, members);
        var keys = Enumerable.Range(0, 64).Select(i => $"user-{i}").ToArray();
        Run(balancer, keys, 1_000);

        // A schedule or ring derived from the new members is built with them, not by the callers' first picks.
        balancer.Publish([.. members[1..]], stale: false);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Run(balancer, keys, 1);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData("weighted")]
    [InlineData("hash")]
    public void A_pick_on_the_previous_snapshot_leaves_the_new_one_prepared(string policy)
    {
        var members = Enumerable.Range(0, 64).Select(i => Balancers.Instance($"node-{i}", weight: i % 3 + 1)).ToArray();
        var picker = LoadBalancingPolicies.Create(policy, Balancers.Exact);
        var balancer = new ServiceBalancer("user", picker, Balancers.Exact);
        balancer.Publish([.. members], stale: false);
        var keys = Enumerable.Range(0, 64).Select(i => $"user-{i}").ToArray();
        Run(balancer, keys, 1_000);

        // A caller read the view, then the membership changed before its pick ran.
        var previous = balancer.Available;
        balancer.Publish([.. members[1..]], stale: false);
        picker.Pick(previous, "user-1");

        var before = GC.GetAllocatedBytesForCurrentThread();
        Run(balancer, keys, 1);
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        Assert.Equal(0, allocated);
    }

    [Theory]
    [InlineData("weighted")]
    [InlineData("hash")]
    public void Picks_on_a_replaced_snapshot_build_nothing_and_pick_as_before(string policy)
    {
        var members = Enumerable.Range(0, 64).Select(i => Balancers.Instance($"node-{i}", weight: i % 3 + 1)).ToArray();
        var picker = LoadBalancingPolicies.Create(policy, Balancers.Exact);
        var balancer = new ServiceBalancer("user", picker, Balancers.Exact);
        balancer.Publish([.. members], stale: false);
        var keys = Enumerable.Range(0, 64).Select(i => $"user-{i}").ToArray();
        var previous = balancer.Available;
        var expected = keys.Select(k => picker.Pick(previous, k)).ToArray();

        // Callers that read the view before the membership changed pick on it afterwards, many times over.
        balancer.Publish([.. members[1..]], stale: false);
        var picked = new int[keys.Length];
        var allocated = Allocations.Least(() =>
        {
            for (var round = 0; round < 100; round++)
                for (var i = 0; i < keys.Length; i++) picked[i] = picker.Pick(previous, keys[i]);
        });

        Assert.Equal(0, allocated);
        // hash places each key as before; weighted goes on with its turns over the snapshot's own schedule.
        if (policy == "hash") Assert.Equal(expected, picked);
        else Assert.All(picked, index => Assert.InRange(index, 0, previous.Count - 1));
    }

    private static void RunRetries(ServiceBalancer balancer, string[] keys, string[] tried, int picks)
    {
        for (var i = 0; i < picks; i++)
        {
            var call = balancer.PickUntried(keys[i & 63], tried, out var untried);
            if (!untried) throw new InvalidOperationException("no untried instance");
            call.Release();
        }
    }

    private static void Run(ServiceBalancer balancer, string[] keys, int picks)
    {
        for (var i = 0; i < picks; i++)
        {
            var call = balancer.Pick(keys[i & 63]);
            if (!call.HasInstance) throw new InvalidOperationException("no instance");
            call.Succeed();
        }
    }
}
