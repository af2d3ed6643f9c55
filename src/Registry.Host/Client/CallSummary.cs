namespace Registry.Host.Client;

/// <summary>What a run of calls did: how many, how many failed after retries, who served them, and latency.</summary>
/// <param name="Calls">Calls made, failed ones included.</param>
/// <param name="Failures">Calls that failed after their retries.</param>
/// <param name="ByInstance">Successful calls per instance id, ordered by id.</param>
/// <param name="P50Ms">Median latency of all calls (retries included), in milliseconds; 0 without calls.</param>
/// <param name="P99Ms">99th percentile latency, in milliseconds; 0 without calls.</param>
internal sealed record CallSummary(long Calls, long Failures, IReadOnlyDictionary<string, long> ByInstance, double P50Ms, double P99Ms)
{
    /// <summary>Sums the tallies of the workers of one run.</summary>
    public static CallSummary Of(IEnumerable<CallTally> tallies)
    {
        var byInstance = new SortedDictionary<string, long>(StringComparer.Ordinal);
        var latencies = new List<double>();
        long calls = 0, failures = 0;
        foreach (var tally in tallies)
        {
            calls += tally.Calls;
            failures += tally.Failures;
            latencies.AddRange(tally.Latencies);
            foreach (var (id, count) in tally.ByInstance) byInstance[id] = byInstance.GetValueOrDefault(id) + count;
        }
        latencies.Sort();
        return new CallSummary(calls, failures, byInstance, Percentile(latencies, 0.50), Percentile(latencies, 0.99));
    }

    /// <summary>Nearest-rank percentile of sorted values, rounded to microseconds.</summary>
    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? 0 : Math.Round(sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Count) - 1, 0, sorted.Count - 1)], 3);
}

/// <summary>One worker's outcomes; not thread-safe, merged by <see cref="CallSummary.Of"/>.</summary>
internal sealed class CallTally
{
    public long Calls { get; private set; }

    public long Failures { get; private set; }

    public Dictionary<string, long> ByInstance { get; } = new(StringComparer.Ordinal);

    public List<double> Latencies { get; } = [];

    public void Add(CallOutcome outcome)
    {
        Calls++;
        Latencies.Add(outcome.LatencyMs);
        if (outcome.Succeeded) ByInstance[outcome.InstanceId!] = ByInstance.GetValueOrDefault(outcome.InstanceId!) + 1;
        else Failures++;
    }
}
