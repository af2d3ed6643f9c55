using Registry.Balancing;

namespace Registry.Tests.Balancing;

/// <summary><see cref="ServiceBalancer.PickUntried"/>: where the retry of a call goes.</summary>
public sealed class RetryPickTests
{
    public static TheoryData<string> Policies => [.. LoadBalancingPolicies.Names];

    [Theory]
    [MemberData(nameof(Policies))]
    public void A_retry_goes_to_an_instance_not_tried_while_there_is_one(string policy)
    {
        var balancer = Balancers.Create(policy, Balancers.Instances("a", "b", "c"));

        for (var i = 0; i < 200; i++)
        {
            var key = $"user-{i}";
            var first = balancer.PickId(key);
            var second = PickUntriedId(balancer, key, [first]);
            var third = PickUntriedId(balancer, key, [first, second]);

            Assert.Equal(["a", "b", "c"], new[] { first, second, third }.Order());
        }
        Assert.All(Enumerable.Range(0, 3), index => Assert.Equal(0, balancer.Available.Outstanding(index)));
    }

    [Fact]
    public void A_retry_takes_the_policys_choice_when_it_was_not_tried()
    {
        var balancer = Balancers.Create("hash", Balancers.Instances("a", "b", "c", "d"));
        var keyed = balancer.PickId("user-7");

        var retry = PickUntriedId(balancer, "user-7", [balancer.Members.First(m => m.Id != keyed).Id]);

        Assert.Equal(keyed, retry);
    }

    [Fact]
    public void The_retries_of_a_failing_instance_that_stays_in_are_spread_and_each_key_retries_on_the_same_instance()
    {
        var ids = Enumerable.Range(0, 10).Select(i => $"i{i}").ToArray();
        var balancer = Balancers.Create("hash", Balancers.Instances(ids));
        // The keys i0 owns: their calls fail there, and i0 stays in (the ejected share is full).
        var keys = Enumerable.Range(0, 20_000).Select(i => $"user-{i}").Where(k => balancer.PickId(k) == "i0").ToList();

        var retries = keys.Select(k => PickUntriedId(balancer, k, ["i0"])).ToList();

        // Spread over the other nine as the ring spreads keys, not all sent to one neighbour; the same each time.
        var mostOnOne = retries.GroupBy(id => id).Max(g => g.Count());
        Assert.True(mostOnOne < 2 * keys.Count / 9, $"{mostOnOne} of {keys.Count} retries on one instance");
        Assert.Equal(retries, keys.Select(k => PickUntriedId(balancer, k, ["i0"])));
    }

    [Fact]
    public void A_retry_after_every_instance_was_tried_says_so_and_takes_the_policys_choice()
    {
        var balancer = Balancers.Create("round-robin", Balancers.Instances("a", "b"));

        var call = balancer.PickUntried(null, ["b", "a"], out var untried);

        Assert.False(untried);
        Assert.Equal("a", call.Instance?.Id);
        Assert.Equal(1, balancer.Available.Outstanding(0));
        call.Release();
        Assert.Equal(0, balancer.Available.Outstanding(0));
    }

    [Fact]
    public void A_retry_without_instances_finds_none()
    {
        var balancer = Balancers.Create("random", []);

        var call = balancer.PickUntried(null, ["a"], out _);

        Assert.False(call.HasInstance);
    }

    private static string PickUntriedId(ServiceBalancer balancer, string key, string[] tried)
    {
        var call = balancer.PickUntried(key, tried, out var untried);
        Assert.True(untried, $"tried [{string.Join(", ", tried)}] of [{string.Join(", ", balancer.AvailableIds())}]");
        Assert.DoesNotContain(call.Instance!.Id, tried);
        call.Release();
        return call.Instance.Id;
    }
}
