using HdrHistogram;

namespace Registry.Host.Client;

/// <summary>What a run of calls did: how many, how many failed after retries, who served them, and latency.</summary>
/// <param name="Calls">Calls made, failed ones included.</param>
/// <param name="Failures">Calls that failed after their retries.</param>
/// <param name="ByInstance">Successful calls per instance id, ordered by id.</param>
/// <param name="P50Ms">Median latency of all calls (retries included), in milliseconds; 0 without calls.</param>
/// <param name="P99Ms">99th percentile latency, in milliseconds; 0 without calls.</param>
/// <param name="Cut">Calls still in flight <see cref="CallLoad.InFlightGrace"/> after a stop, cut and not counted.</param>
internal sealed record CallSummary(long Calls, long Failures, IReadOnlyDictionary<string, long> ByInstance, double P50Ms, double P99Ms, long Cut = 0)
{
    /// <summary>Sums the tallies of the workers of one run, with the latencies they recorded.</summary>
    public static CallSummary Of(IEnumerable<CallTally> tallies, CallLatencies latencies, long cut = 0)
    {
        var byInstance = new SortedDictionary<string, long>(StringComparer.Ordinal);
        long calls = 0, failures = 0;
        foreach (var tally in tallies)
        {
            calls += tally.Calls;
            failures += tally.Failures;
            foreach (var (id, count) in tally.ByInstance) byInstance[id] = byInstance.GetValueOrDefault(id) + count;
        }
        return new CallSummary(calls, failures, byInstance, latencies.PercentileMs(50), latencies.PercentileMs(99), cut);
    }
}

/// <summary>
/// Call latencies of one run, from every worker at once, in fixed memory however long the run: a histogram of
/// microseconds with three significant digits, so a percentile is within 0.1 % of the exact one.
/// </summary>
internal sealed class CallLatencies
{
    private const long MaxMicroseconds = 3_600_000_000;
    private readonly LongConcurrentHistogram _micros = new(1, MaxMicroseconds, 3);

    public void Record(double milliseconds) => _micros.RecordValue(Math.Clamp((long)Math.Round(milliseconds * 1000), 1, MaxMicroseconds));

    /// <summary>The <paramref name="percentile"/>th percentile (0–100) in milliseconds; 0 without calls.</summary>
    public double PercentileMs(double percentile) => _micros.TotalCount == 0 ? 0 : _micros.GetValueAtPercentile(percentile) / 1000.0;
}

/// <summary>One worker's outcomes; not thread-safe, merged by <see cref="CallSummary.Of"/>.</summary>
internal sealed class CallTally(CallLatencies latencies)
{
    public long Calls { get; private set; }

    public long Failures { get; private set; }

    public Dictionary<string, long> ByInstance { get; } = new(StringComparer.Ordinal);

    public void Add(CallOutcome outcome)
    {
        Calls++;
        latencies.Record(outcome.LatencyMs);
        if (outcome.Succeeded) ByInstance[outcome.InstanceId!] = ByInstance.GetValueOrDefault(outcome.InstanceId!) + 1;
        else Failures++;
    }
}
