using Microsoft.Extensions.Time.Testing;

namespace Registry.Tests.Balancing;

/// <summary>
/// The running total of calls in flight that bounded-load hashing weighs: it must equal the sum over the available
/// instances whenever no call is starting or ending, whatever joined, left or was ejected meanwhile. Other policies
/// do not keep it.
/// </summary>
public sealed class CallTotalTests
{
    private readonly FakeTimeProvider _time = new();

    [Fact]
    public void The_total_follows_picks_and_ends()
    {
        var balancer = Create("a", "b", "c");

        var calls = Hold(balancer, 7);
        AssertTotal(balancer, 7);
        foreach (var call in calls[..3]) call.Succeed();

        AssertTotal(balancer, 4);
    }

    [Fact]
    public void Other_policies_keep_no_total()
    {
        var balancer = Balancers.Create("round-robin", Balancers.Instances("a", "b"), time: _time);

        balancer.Pick();

        Assert.Equal(1, balancer.Available.Outstanding(0));
        Assert.Equal(0, balancer.Available.TotalOutstanding);
    }

    [Fact]
    public void The_calls_of_an_instance_that_leaves_leave_the_total_and_ending_them_later_does_not_touch_it()
    {
        var balancer = Create("a", "b", "c");
        var calls = Hold(balancer, 6);

        balancer.Publish([.. Balancers.Instances("a", "c")], stale: false);
        AssertTotal(balancer, 4);
        foreach (var call in calls.Where(c => c.Instance!.Id == "b")) call.Release();
        AssertTotal(balancer, 4);

        foreach (var call in calls.Where(c => c.Instance!.Id != "b")) call.Release();
        AssertTotal(balancer, 0);
    }

    [Fact]
    public void An_instance_that_comes_back_or_moves_starts_with_no_calls_in_the_total()
    {
        var balancer = Create("a", "b", "c");
        var calls = Hold(balancer, 6);

        balancer.Publish([.. Balancers.Instances("a", "b")], stale: false);
        balancer.Publish([.. Balancers.Instances("a", "b", "c", "d")], stale: false);
        balancer.Publish([Balancers.Instance("a", address: "elsewhere:9090"), .. Balancers.Instances("b", "c", "d")], stale: false);
        AssertTotal(balancer, 2);

        foreach (var call in calls) call.Release();
        AssertTotal(balancer, 0);
    }

    [Fact]
    public void An_ejected_instance_leaves_the_total_with_its_calls_and_brings_those_still_in_flight_back()
    {
        var balancer = Create("a", "b", "c");
        var calls = Hold(balancer, 9);
        var ofA = calls.Where(c => c.Instance!.Id == "a").ToArray();

        ofA[0].Fail();
        Assert.Equal(["b", "c"], balancer.AvailableIds());
        AssertTotal(balancer, 6);
        ofA[1].Release();
        AssertTotal(balancer, 6);

        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(["a", "b", "c"], balancer.AvailableIds());
        AssertTotal(balancer, 7);
        foreach (var call in calls.Where(c => c.Instance!.Id != "a").Append(ofA[2])) call.Release();
        AssertTotal(balancer, 0);
    }

    [Fact]
    public async Task An_instance_joining_and_leaving_the_total_while_its_calls_start_and_end_keeps_the_total_exact()
    {
        var balancer = Create("a");
        var state = balancer.Available.States[0];
        var done = false;
        long progress = 0;

        var worker = Task.Run(() =>
        {
            // Two calls start, two end, until told to stop with none in flight.
            for (var i = 0; !Volatile.Read(ref done) || i % 4 != 0; i++)
            {
                if (i % 4 < 2) state.Begin();
                else state.End();
                if (i % 1024 == 0) Volatile.Write(ref progress, i);
            }
        });
        // What the balancer does under its lock when the instance is ejected and re-admitted, or leaves and comes back,
        // until the worker has started and ended millions of calls meanwhile.
        while (Volatile.Read(ref progress) < 4_000_000 && !worker.IsCompleted)
        {
            state.Uncount();
            state.Count();
        }
        Volatile.Write(ref done, true);
        await worker;

        AssertTotal(balancer, 0);
    }

    [Fact]
    public async Task The_total_does_not_drift_while_members_join_leave_and_are_ejected_under_concurrent_calls()
    {
        // Few instances, so that calls start and end on the very states that join and leave.
        var balancer = Balancers.Create("hash", Balancers.Instances("a", "b", "c"), time: _time);
        var memberships = new[] { ["a", "b", "c"], ["a", "b"], ["a", "c"], new[] { "b", "c" } }.Select(Balancers.Instances).ToArray();
        using var stop = new CancellationTokenSource();
        var held = new List<BalancedCall>[4];

        var workers = Enumerable.Range(0, held.Length).Select(w => Task.Run(() =>
        {
            var mine = held[w] = [];
            for (var i = 0; !stop.IsCancellationRequested || i < 1_000; i++)
            {
                var call = balancer.Pick($"key-{w}-{i % 100}");
                if (!call.HasInstance) continue;
                mine.Add(call);
                if (mine.Count < 3) continue;
                // End the oldest: a failure now and then ejects an instance (and the clock re-admits it).
                if (i % 97 == 0) mine[0].Fail();
                else mine[0].Release();
                mine.RemoveAt(0);
            }
        })).ToArray();
        for (var round = 0; round < 100_000; round++)
        {
            balancer.Publish([.. memberships[round % memberships.Length]], stale: false);
            if (round % 1_000 == 0) _time.Advance(TimeSpan.FromSeconds(10));
        }
        await stop.CancelAsync();
        await Task.WhenAll(workers);

        var available = balancer.Available;
        Assert.Equal(Enumerable.Range(0, available.Count).Sum(available.Outstanding), available.TotalOutstanding);
        foreach (var call in held.SelectMany(h => h)) call.Release();
        AssertTotal(balancer, 0);
    }

    private ServiceBalancer Create(params string[] ids) => Balancers.Create("hash", Balancers.Instances(ids), time: _time);

    /// <summary>Keeps <paramref name="count"/> calls in flight, spread evenly over the available instances in id order.</summary>
    private static BalancedCall[] Hold(ServiceBalancer balancer, int count)
    {
        var ids = balancer.AvailableIds();
        return Enumerable.Range(0, count).Select(i => PickOn(balancer, ids[i % ids.Length])).ToArray();
    }

    /// <summary>A call on <paramref name="id"/>: without a key, the hash policy picks at random.</summary>
    private static BalancedCall PickOn(ServiceBalancer balancer, string id)
    {
        for (var i = 0; i < 10_000; i++)
        {
            var call = balancer.Pick();
            if (call.Instance!.Id == id) return call;
            call.Release();
        }
        throw new InvalidOperationException($"{id} is never picked");
    }

    /// <summary>The total is <paramref name="expected"/> and the sum of the available instances' calls.</summary>
    private static void AssertTotal(ServiceBalancer balancer, long expected)
    {
        var available = balancer.Available;
        Assert.Equal(expected, Enumerable.Range(0, available.Count).Sum(available.Outstanding));
        Assert.Equal(expected, available.TotalOutstanding);
    }
}
