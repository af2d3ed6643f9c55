using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// One line of the results: a figure of the registry beside the same figure of its raw baseline, measured in the same
/// run. <see cref="Statistic"/> says which order statistic the row shows ("p50", "p99", "median of 5 runs"…);
/// min and max always come with it.
/// </summary>
public sealed record Row(
    string Scenario,
    string Metric,
    string Unit,
    string Statistic,
    Figure? Registry,
    Figure? Raw,
    string Target,
    bool? Met,
    string? Note = null)
{
    /// <summary>Registry ÷ raw of the shown statistic; null without a baseline.</summary>
    public double? Ratio => Raw is null || Registry is null || Raw.Median == 0 ? null : Value(Registry) / Value(Raw);

    /// <summary>The statistic the row is about (the p99 for a p99 row, the median otherwise).</summary>
    public double Value(Figure s) => Statistic.StartsWith("p99", StringComparison.Ordinal) ? s.P99 : s.Median;
}

/// <summary>Everything one bench run produced, written as Markdown and as JSON.</summary>
public sealed class Report
{
    private static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    private static readonly JsonSerializerOptions Compact = new(Json) { WriteIndented = false };

    public required MachineInfo Machine { get; init; }

    public required string Mode { get; init; }

    public required string Command { get; init; }

    public DateTimeOffset StartedAt { get; init; } = DateTimeOffset.UtcNow;

    public List<Row> Rows { get; } = [];

    /// <summary>Scenario settings and extra observations (counts, rates) that are not rows.</summary>
    public SortedDictionary<string, object> Details { get; } = new(StringComparer.Ordinal);

    public void Write(string directory, string name)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, $"{name}.md"), ToMarkdown());
        File.WriteAllText(Path.Combine(directory, $"{name}.json"), JsonSerializer.Serialize(new
        {
            Machine,
            Mode,
            Command,
            StartedAt,
            Rows = Rows.Select(r => new { r.Scenario, r.Metric, r.Unit, r.Statistic, r.Registry, r.Raw, r.Ratio, r.Target, r.Met, r.Note }),
            Details,
        }, Json));
    }

    public string ToMarkdown()
    {
        var md = new StringBuilder();
        md.AppendLine($"Measured {StartedAt:yyyy-MM-dd HH:mm} UTC, mode `{Mode}`: `{Command}`").AppendLine();
        md.AppendLine(Machine.ToMarkdown()).AppendLine();
        md.AppendLine("| scenario | metric | registry: value [min – max] | raw baseline: value [min – max] | ratio | target | met |");
        md.AppendLine("|---|---|---|---|---|---|---|");
        foreach (var row in Rows)
        {
            md.Append($"| {row.Scenario} | {row.Metric} ({row.Statistic}) | {Cell(row, row.Registry)} | {Cell(row, row.Raw)} | ");
            md.Append(row.Ratio is { } ratio ? $"{ratio:0.00}×" : "–");
            md.Append($" | {row.Target} | {(row.Met is null ? "–" : row.Met.Value ? "yes" : "**no**")} |");
            md.AppendLine();
        }
        var notes = Rows.Where(r => r.Note is not null).ToList();
        if (notes.Count > 0)
        {
            md.AppendLine().AppendLine("Notes:").AppendLine();
            foreach (var row in notes) md.AppendLine($"- {row.Scenario}, {row.Metric}: {row.Note}");
        }
        if (Details.Count > 0)
        {
            md.AppendLine().AppendLine("Details:").AppendLine();
            foreach (var (key, value) in Details) md.AppendLine($"- `{key}`: {Format(value)}");
        }
        return md.ToString();
    }

    private static string Cell(Row row, Figure? s)
    {
        if (s is null) return "–";
        var value = $"{Number(row.Value(s))} {row.Unit}";
        return s.Count == 1 ? value : $"{value} [{Number(s.Min)} – {Number(s.Max)}]";
    }

    public static string Number(double v) => Math.Abs(v) switch
    {
        0 => "0",
        >= 1000 => v.ToString("#,0", CultureInfo.InvariantCulture),
        >= 100 => v.ToString("0", CultureInfo.InvariantCulture),
        >= 10 => v.ToString("0.0", CultureInfo.InvariantCulture),
        >= 1 => v.ToString("0.00", CultureInfo.InvariantCulture),
        _ => v.ToString("0.000", CultureInfo.InvariantCulture),
    };

    private static string Format(object value) => value switch
    {
        double d => Number(d),
        string s => s,
        _ => JsonSerializer.Serialize(value, Compact),
    };
}
