using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Loggers;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;
using Registry.Benchmarks.Scenarios;

namespace Registry.Benchmarks.Micro;

/// <summary>Runs the BenchmarkDotNet micro-benchmarks and turns their summaries into report rows.</summary>
public static class MicroRunner
{
    private const double PickTargetNs = 50;
    private const double AskTargetNs = 5000;

    /// <summary>
    /// Quick: in-process, 3 warm-up and 5 measured iterations, a few minutes in all. Full: a process of its own per
    /// benchmark (BenchmarkDotNet's default toolchain), 6 warm-up and 15 measured iterations.
    /// </summary>
    public static void Run(Report report, bool quick, string artifacts, string? filter)
    {
        var job = quick
            ? Job.ShortRun.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(5).WithId("quick")
            : Job.Default.WithLaunchCount(1).WithWarmupCount(6).WithIterationCount(15).WithId("full");
        var config = ManualConfig.CreateEmpty()
            .AddJob(job)
            .AddLogger(ConsoleLogger.Default)
            .AddColumnProvider(DefaultConfig.Instance.GetColumnProviders().ToArray())
            .AddExporter(MarkdownExporter.GitHub, JsonExporter.Full)
            .AddDiagnoser(BenchmarkDotNet.Diagnosers.MemoryDiagnoser.Default)
            .WithArtifactsPath(artifacts)
            .WithOptions(ConfigOptions.DisableLogFile);
        if (filter is not null) config = config.AddFilter(new BenchmarkDotNet.Filters.GlobFilter([filter]));

        var summaries = BenchmarkRunner.Run([typeof(BaselineBenchmarks), typeof(HotPathPickBenchmarks), typeof(ActorAskPickBenchmarks)], config);
        var reports = summaries.SelectMany(s => s.Reports.Select(r => (Summary: s, Report: r))).Where(x => x.Report.ResultStatistics is not null).ToList();

        var arrayBaseline = Find(reports, nameof(BaselineBenchmarks.ArrayRoundRobin));
        foreach (var (summary, r) in reports.Where(x => x.Report.BenchmarkCase.Descriptor.Type == typeof(HotPathPickBenchmarks)))
        {
            var (stats, allocated) = Figures(summary, r);
            var policy = r.BenchmarkCase.Parameters["Policy"];
            var instances = r.BenchmarkCase.Parameters["Instances"];
            var load = r.BenchmarkCase.Descriptor.WorkloadMethod.Name == nameof(HotPathPickBenchmarks.Pick) ? "idle" : "2 calls in flight per instance";
            report.Rows.Add(new Row("hot-path pick", $"ServiceBalancer.Pick + Release, {policy}, {instances} instances, {load}", "ns", "median of iterations",
                stats, arrayBaseline?.Stats, "< 50 ns, 0 B", stats.Median < PickTargetNs && allocated == 0,
                $"{allocated} B allocated per pick; baseline = an array indexed round-robin"));
        }
        var asks = reports.Where(x => x.Report.BenchmarkCase.Descriptor.Type == typeof(ActorAskPickBenchmarks)).ToList();
        foreach (var (summary, r) in asks.Where(x => x.Report.BenchmarkCase.Descriptor.WorkloadMethod.Name == nameof(ActorAskPickBenchmarks.AskPick)))
        {
            var (stats, allocated) = Figures(summary, r);
            var policy = r.BenchmarkCase.Parameters["Policy"];
            var echo = asks.FirstOrDefault(x => x.Report.BenchmarkCase.Descriptor.WorkloadMethod.Name == nameof(ActorAskPickBenchmarks.AskEcho)
                                                && Equals(x.Report.BenchmarkCase.Parameters["Policy"], policy));
            (Figure Stats, long? Allocated)? askBaseline = echo.Report is null ? null : Figures(echo.Summary, echo.Report);
            report.Rows.Add(new Row("actor pick", $"Ask(Pick) → Picked, {policy}, 8 instances", "ns", "median of iterations",
                stats, askBaseline?.Stats, "< 5 µs", stats.Median < AskTargetNs,
                $"{allocated} B allocated per ask; baseline = an Ask answered by an echo actor ({askBaseline?.Allocated} B)"));
        }
        report.Details["micro.job"] = quick ? "quick: in-process, 3 warm-up + 5 measured iterations" : "full: out of process, 6 warm-up + 15 measured iterations";
    }

    private static (Figure Stats, long? Allocated)? Find(List<(BenchmarkDotNet.Reports.Summary Summary, BenchmarkReport Report)> reports, string method)
    {
        var found = reports.FirstOrDefault(x => x.Report.BenchmarkCase.Descriptor.WorkloadMethod.Name == method);
        return found.Report is null ? null : Figures(found.Summary, found.Report);
    }

    private static (Figure Stats, long? Allocated) Figures(BenchmarkDotNet.Reports.Summary summary, BenchmarkReport r)
    {
        var s = r.ResultStatistics!;
        return (new Figure(s.N, s.Median, s.Percentiles.Percentile(99), s.Min, s.Max, s.Mean), r.GcStats.GetBytesAllocatedPerOperation(r.BenchmarkCase));
    }
}
