namespace Registry.Benchmarks.Scenarios;

/// <summary>Order statistics of one series of measurements (any unit).</summary>
public sealed record Figure(int Count, double Median, double P99, double Min, double Max, double Mean)
{
    public static Figure Of(IReadOnlyCollection<double> values)
    {
        if (values.Count == 0) throw new ArgumentException("no measurements", nameof(values));
        var sorted = values.Order().ToArray();
        return new Figure(sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.99), sorted[0], sorted[^1], sorted.Average());
    }

    /// <summary>One measurement: median, min and max are the value itself.</summary>
    public static Figure Single(double value) => new(1, value, value, value, value, value);

    /// <summary>Linear interpolation between the closest ranks (the definition numpy uses by default).</summary>
    public static double Percentile(double[] sorted, double p)
    {
        var rank = p * (sorted.Length - 1);
        var low = (int)Math.Floor(rank);
        var high = Math.Min(low + 1, sorted.Length - 1);
        return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
    }
}
