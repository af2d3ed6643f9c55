using Registry.Host.Client;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Call;

/// <summary>The latencies of a <c>call</c> run: percentiles within 0.1 %, in memory that does not grow with the run.</summary>
public sealed class CallLatenciesTests
{
    [Fact]
    public void Percentiles_are_within_a_tenth_of_a_percent()
    {
        var latencies = new CallLatencies();
        for (var ms = 1; ms <= 1000; ms++) latencies.Record(ms);

        Assert.Equal(500, latencies.PercentileMs(50), tolerance: 0.5);
        Assert.Equal(990, latencies.PercentileMs(99), tolerance: 1);
    }

    [Fact]
    public void Without_calls_the_percentiles_are_zero() => Assert.Equal(0, new CallLatencies().PercentileMs(99));

    [Fact]
    public void Recording_takes_no_memory_of_its_own_and_any_latency_is_taken()
    {
        var latencies = new CallLatencies();

        var allocated = Allocations.Least(() => RecordMany(latencies));

        Assert.Equal(0, allocated);
        Assert.Equal(3_600_000, latencies.PercentileMs(100), tolerance: 3_600);
    }

    private static void RecordMany(CallLatencies latencies)
    {
        for (var i = 0; i < 1_000_000; i++) latencies.Record(i % 5000 * 0.01);
        // Below and above what the histogram holds: taken as its least and its most.
        latencies.Record(0);
        latencies.Record(10_000_000);
    }
}
