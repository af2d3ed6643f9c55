using System.Diagnostics;
using System.Text.Json;

namespace Registry.Benchmarks.Scenarios;

/// <summary>
/// Scale: <c>instances</c> registered in one process and held for <c>hold</c>; over the hold window (registration
/// excluded) the process's CPU time, its managed heap, lost leases, and the requests etcd received per second
/// (etcd's own counters). The baseline is the textbook client in a process of its own: the same number of leases kept
/// alive over one stream, every TTL/3, and nothing else (the registry renews every TTL/4 by default, so a row gives the
/// CPU per renewal too). Each side runs in a child process (see
/// <see cref="ScaleWorker"/>), the raw one first; then both again with the .NET thread pool's idle spin turned off
/// (<see cref="SpinOff"/>), which shows how much of either side's CPU is worker threads spinning between etcd's answers.
/// </summary>
public sealed class ScaleScenario(string endpoint, int instances, TimeSpan hold, long ttl)
{
    /// <summary>
    /// The runtime setting of the second pair of workers: a thread-pool worker that runs out of work blocks at once
    /// instead of spinning (and yielding its core) up to 70 times first. It applies to a whole process.
    /// </summary>
    public const string SpinOff = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    public async Task RunAsync(Report report)
    {
        var raw = await RunWorkerAsync("raw", spinOff: false);
        var registry = await RunWorkerAsync("registry", spinOff: false);
        var rawSpinOff = await RunWorkerAsync("raw", spinOff: true);
        var registrySpinOff = await RunWorkerAsync("registry", spinOff: true);

        Row(report, "keep-alive CPU", "% of one core", registry.CpuPercentOfOneCore, raw.CpuPercentOfOneCore, "< 5 %", registry.CpuPercentOfOneCore < 5,
            $"process CPU time over the hold window ÷ its wall time; registration excluded; .NET defaults; {Switches(registry, raw)}");
        Row(report, "keep-alive CPU, thread-pool spin off", "% of one core", registrySpinOff.CpuPercentOfOneCore, rawSpinOff.CpuPercentOfOneCore, "< 5 %",
            registrySpinOff.CpuPercentOfOneCore < 5,
            $"both sides again with {SpinOff}=0 (process-wide); {Switches(registrySpinOff, rawSpinOff)}; per 1,000 keep-alives/s: registry {PerThousand(registrySpinOff):0.00} %, raw {PerThousand(rawSpinOff):0.00} %");
        Row(report, "CPU per 1,000 keep-alives/s", "% of one core", PerThousand(registry), PerThousand(raw), "–", null,
            "keep-alive CPU ÷ LeaseKeepAlive requests per second × 1,000: the cost of one renewal, whatever the renewal interval");
        Row(report, "managed memory (peak in window)", "MB", registry.ManagedPeakMb, raw.ManagedPeakMb, "< 150 MB", registry.ManagedPeakMb < 150,
            $"GC.GetTotalMemory sampled every second; after a full GC at the end: registry {registry.ManagedAfterGcMb:0.0} MB, raw {raw.ManagedAfterGcMb:0.0} MB; working set registry {registry.WorkingSetMb:0} MB, raw {raw.WorkingSetMb:0} MB");
        var lost = registry.LeaseLost + registry.Reregistered;
        Row(report, "leases lost / keys missing", "count", lost + (instances - registry.KeysPresent) + registry.KeysOnOtherLease,
            raw.LeaseLost + (instances - raw.KeysPresent), "0", lost == 0 && registry.KeysPresent == instances && registry.KeysOnOtherLease == 0,
            $"registry: {registry.LeaseLost} lease-lost, {registry.Reregistered} reregistered, {registry.RenewFailed} renew-failed events; {registry.KeysPresent:N0}/{instances:N0} keys present at the end, {registry.KeysOnOtherLease} on another lease");
        Row(report, "etcd requests caused", "req/s", registry.EtcdRequestsPerSecond, raw.EtcdRequestsPerSecond, "–", null,
            $"counted by etcd (grpc_server_msg_received_total); registry by method: {Methods(registry)}; raw: {Methods(raw)}; " +
            $"expected: registry {instances / (ttl / 4.0):N0}/s renewals (every TTL/4, the default) and {instances / (double)ttl:N0} key reads/s (every TTL), sent as transactions of up to 128 reads; raw {instances / (ttl / 3.0):N0}/s renewals (every TTL/3)");
        Row(report, "etcd CPU while holding", "% of one core", registry.EtcdCpuPercentOfOneCore, raw.EtcdCpuPercentOfOneCore, "–", null, null);

        report.Details["scale.instances"] = instances;
        report.Details["scale.hold-seconds"] = hold.TotalSeconds;
        report.Details["scale.ttl-seconds"] = ttl;
        report.Details["scale.registry"] = registry;
        report.Details["scale.raw"] = raw;
        report.Details["scale.registry-spin-off"] = registrySpinOff;
        report.Details["scale.raw-spin-off"] = rawSpinOff;
    }

    private static string Switches(ScaleMeasurement registry, ScaleMeasurement raw) =>
        $"context switches/s: registry {registry.ContextSwitchesPerSecond:N0} ({registry.InvoluntarySwitchesPerSecond:N0} involuntary), " +
        $"raw {raw.ContextSwitchesPerSecond:N0} ({raw.InvoluntarySwitchesPerSecond:N0} involuntary)";

    private static double PerThousand(ScaleMeasurement m) =>
        1000 * m.CpuPercentOfOneCore / m.EtcdRequestsPerSecondByMethod.GetValueOrDefault("LeaseKeepAlive", double.NaN);

    private static string Methods(ScaleMeasurement m) =>
        string.Join(", ", m.EtcdRequestsPerSecondByMethod.OrderByDescending(kv => kv.Value).Select(kv => $"{kv.Key} {kv.Value:0.#}"));

    private void Row(Report report, string metric, string unit, double registry, double raw, string target, bool? met, string? note) =>
        report.Rows.Add(new Row("scale", $"{instances:N0} instances, TTL {ttl} s: {metric}", unit, $"{hold.TotalSeconds:0} s window",
            Figure.Single(registry), Figure.Single(raw), target, met, note));

    private async Task<ScaleMeasurement> RunWorkerAsync(string mode, bool spinOff)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        if (spinOff) start.Environment[SpinOff] = "0";
        foreach (var arg in new[]
                 {
                     Path.Combine(AppContext.BaseDirectory, "Registry.Benchmarks.dll"), "scale-worker", "--mode", mode, "--etcd", endpoint,
                     "--instances", $"{instances}", "--hold", $"{hold.TotalSeconds}", "--ttl", $"{ttl}",
                 })
            start.ArgumentList.Add(arg);
        Console.Error.WriteLine($"scale: {mode} worker{(spinOff ? ", thread-pool spin off" : "")}, {instances:N0} instances, holding {hold.TotalSeconds:0} s");
        using var process = Process.Start(start) ?? throw new InvalidOperationException("could not start the scale worker");
        var output = await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        try
        {
            if (process.ExitCode != 0) throw new InvalidOperationException($"the {mode} scale worker exited with {process.ExitCode}");
            var line = output.Split('\n').Last(l => l.StartsWith(ScaleWorker.ResultMarker, StringComparison.Ordinal));
            return JsonSerializer.Deserialize<ScaleMeasurement>(line[ScaleWorker.ResultMarker.Length..]) ?? throw new InvalidOperationException("empty scale result");
        }
        finally
        {
            await CleanUpAsync();
        }
    }

    /// <summary>Revokes whatever leases the worker left, so the next side starts from an empty prefix.</summary>
    private async Task CleanUpAsync()
    {
        using var raw = new RawEtcd(endpoint);
        var prefix = InstanceCodec.ServicePrefix(InstanceCodec.DefaultPrefix, ScaleWorker.Service);
        var leases = (await raw.ListAsync(prefix)).Values.Where(l => l != 0).Distinct().ToArray();
        foreach (var chunk in leases.Chunk(500)) await Task.WhenAll(chunk.Select(raw.RevokeAsync));
        await raw.DeletePrefixAsync(prefix);
    }
}
