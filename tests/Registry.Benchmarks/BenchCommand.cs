using System.Diagnostics;
using Registry.Benchmarks.Micro;
using Registry.Benchmarks.Scenarios;
using Registry.Tests.Infrastructure;

namespace Registry.Benchmarks;

/// <summary>
/// The bench's command line. <c>micro</c> runs the BenchmarkDotNet micro-benchmarks, <c>scenarios</c> the scenarios
/// against an etcd it starts (or <c>--etcd URL</c>), <c>all</c> both; each writes <c>results.md</c> and
/// <c>results.json</c> under <c>--out</c>. <c>--quick</c> trades accuracy for minutes.
/// </summary>
internal static class BenchCommand
{
    private const string Usage = """
        usage: Registry.Benchmarks COMMAND [options]
          micro      [--quick] [--filter GLOB]            BenchmarkDotNet: hot-path pick per policy, Ask(Pick) per policy, baselines
          scenarios  [--quick] [--only LIST] [--etcd URL]  propagation, burst, failure, scale against etcd, each beside its raw baseline
          all        [--quick] [...]                        micro, then scenarios, in one report
        options:
          --out DIR        where results.md / results.json go (default artifacts/bench)
          --only LIST      scenarios to run, comma-separated: propagation,burst,failure,scale (default all)
          --etcd URL       use this etcd instead of starting one (its data under /services/ is overwritten)
          --hold SEC       scale hold window (default 300, quick 30)
          --instances N    scale instances (default 10000)
          --samples N      propagation samples (default 1000, quick 200)
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.Error.WriteLine(Usage);
            return args.Length == 0 ? 2 : 0;
        }
        var options = Options.Parse(args[1..]);
        if (options.Problem is { } problem)
        {
            Console.Error.WriteLine($"bench: {problem}");
            return 2;
        }
        switch (args[0])
        {
            case "scale-worker":
                return await ScaleWorker.RunAsync(options.Mode ?? "", options.Etcd ?? "", options.Instances, options.Hold, options.Ttl, options.Hocon);
            case "micro" or "scenarios" or "all":
                break;
            default:
                Console.Error.WriteLine($"bench: unknown command '{args[0]}'\n{Usage}");
                return 2;
        }

        var report = new Report
        {
            Machine = MachineInfo.Read(EtcdVersion()),
            Mode = options.Quick ? "quick" : "full",
            Command = "Registry.Benchmarks " + string.Join(' ', args),
        };
        var outDir = Path.GetFullPath(options.Out);
        if (args[0] is "micro" or "all") MicroRunner.Run(report, options.Quick, Path.Combine(outDir, "micro"), options.Filter);
        if (args[0] is "scenarios" or "all") await RunScenariosAsync(report, options);
        report.Write(outDir, "results");
        Console.WriteLine(report.ToMarkdown());
        Console.Error.WriteLine($"bench: wrote {Path.Combine(outDir, "results.md")} and results.json");
        return 0;
    }

    private static async Task RunScenariosAsync(Report report, Options options)
    {
        EtcdNode? node = null;
        var endpoint = options.Etcd;
        if (endpoint is null)
        {
            node = await EtcdNode.StartNewAsync();
            endpoint = node.Endpoint;
            Console.Error.WriteLine($"bench: etcd started at {endpoint} (data in {node.DataDir})");
        }
        try
        {
            foreach (var name in options.Only)
            {
                Console.Error.WriteLine($"bench: scenario {name}");
                var started = Stopwatch.GetTimestamp();
                switch (name)
                {
                    case "propagation":
                        await new PropagationScenario(endpoint, options.Samples ?? (options.Quick ? 200 : 1000)).RunAsync(report);
                        break;
                    case "burst":
                        await new RegistrationBurstScenario(endpoint, 1000, options.Quick ? 3 : 7).RunAsync(report);
                        break;
                    case "failure":
                        await new FailureDetectionScenario(endpoint, 3, options.Quick ? 3 : 10, options.Quick ? 5 : 20).RunAsync(report);
                        break;
                    case "scale":
                        await new ScaleScenario(endpoint, options.Instances, options.HoldGiven ? options.Hold : TimeSpan.FromSeconds(options.Quick ? 30 : 300), options.Ttl).RunAsync(report);
                        break;
                }
                report.Details[$"{name}.elapsed-seconds"] = Math.Round(Stopwatch.GetElapsedTime(started).TotalSeconds, 1);
            }
        }
        finally
        {
            node?.Dispose();
        }
    }

    private static string EtcdVersion()
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo("etcd", "--version") { RedirectStandardOutput = true, UseShellExecute = false })!;
            var first = process.StandardOutput.ReadLine() ?? "";
            process.WaitForExit();
            return first.Replace("etcd Version:", "", StringComparison.Ordinal).Trim();
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return "unknown";
        }
    }

    private sealed record Options
    {
        public static readonly string[] Scenarios = ["propagation", "burst", "failure", "scale"];

        public bool Quick { get; private set; }
        public string Out { get; private set; } = Path.Combine("artifacts", "bench");
        public string[] Only { get; private set; } = Scenarios;
        public string? Etcd { get; private set; }
        public string? Filter { get; private set; }
        public string? Mode { get; private set; }
        public TimeSpan Hold { get; private set; } = TimeSpan.FromSeconds(300);
        public bool HoldGiven { get; private set; }
        public int Instances { get; private set; } = 10_000;
        public int? Samples { get; private set; }
        public long Ttl { get; private set; } = 10;
        public string Hocon { get; private set; } = "";
        public string? Problem { get; private set; }

        public static Options Parse(string[] args)
        {
            var o = new Options();
            for (var i = 0; i < args.Length && o.Problem is null; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new FormatException($"{args[i]}: a value is missing");
                try
                {
                    switch (args[i])
                    {
                        case "--quick": o.Quick = true; break;
                        case "--out": o.Out = Next(); break;
                        case "--etcd": o.Etcd = Next(); break;
                        case "--filter": o.Filter = Next(); break;
                        case "--mode": o.Mode = Next(); break;
                        case "--hocon": o.Hocon = Next(); break;
                        case "--hold": o.Hold = TimeSpan.FromSeconds(double.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture)); o.HoldGiven = true; break;
                        case "--instances": o.Instances = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                        case "--samples": o.Samples = int.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                        case "--ttl": o.Ttl = long.Parse(Next(), System.Globalization.CultureInfo.InvariantCulture); break;
                        case "--only":
                            o.Only = Next().Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                            if (o.Only.FirstOrDefault(s => !Scenarios.Contains(s)) is { } unknown)
                                o.Problem = $"--only '{unknown}': expected some of {string.Join(",", Scenarios)}";
                            break;
                        default: o.Problem = $"unknown option '{args[i]}'"; break;
                    }
                }
                catch (FormatException e)
                {
                    o.Problem = $"{args[i]}: {e.Message}";
                }
            }
            return o;
        }
    }
}
