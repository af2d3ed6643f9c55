using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Akka.Actor;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Registry.Balancing;
using Registry.Host.Client;

namespace Registry.Host.Cli;

/// <summary>
/// <c>registry call</c>: calls the sample UserService through the balancer's hot path, with retries on another
/// instance when one is gone, and prints a summary: a short table, or with <c>--json</c> one JSON line.
/// Exits 0 when every call succeeded, 1 when some failed (or no instance appeared in time), 2 on bad arguments.
/// </summary>
internal sealed class CallCommand : Command
{
    // Between checks whether the balancer has an instance yet, while waiting for one at start.
    private static readonly TimeSpan WaitStep = TimeSpan.FromMilliseconds(50);
    // A run with many failures explains the first few; the summary counts them all.
    private const int FailuresShown = 5;

    private readonly CommonOptions _common;
    private readonly CliIo _io;

    private readonly Option<string?> _service = Required(OptionParsing.Checked("--service", "S",
        "the service to call", InstanceValidation.CheckService));

    private readonly Option<long?> _count = OptionParsing.Number<long>("--count", "N",
        "calls to make [default: 100 unless --duration is given]", n => Positive("count", n, 1_000_000_000), 0);

    private readonly Option<int?> _duration = OptionParsing.Number<int>("--duration", "SEC",
        "keep calling for this many seconds instead of a count", n => Positive("duration", n, 86_400), 0);

    private readonly Option<int?> _concurrency = OptionParsing.Number<int>("--concurrency", "C",
        "calls in flight at once [default: 4]", n => Positive("concurrency", n, 1024), 0);

    private readonly Option<string?> _lb = OptionParsing.Checked("--lb", "POLICY",
        $"load-balancing policy: {string.Join("|", LoadBalancingPolicies.Names)} [default: registry.balancing.policy, round-robin]", CheckPolicy);

    private readonly Option<int?> _deadline = OptionParsing.Number<int>("--deadline", "MS",
        "deadline of each attempt in milliseconds [default: 2000]", n => Positive("deadline", n, 600_000), 0);

    private readonly Option<int?> _wait = OptionParsing.Number<int>("--wait", "SEC",
        "how long to wait at start for an instance to call [default: 10]", n => Positive("wait", n, 3600), 0);

    private readonly Option<bool> _json = new("--json") { Description = "print the summary as one JSON line" };

    public CallCommand(CommonOptions common, CliIo io)
        : base("call", "Call the sample UserService through the balancer and print a summary. "
                       + "Exit 0 when every call succeeded, 1 when any failed after its retries")
    {
        _common = common;
        _io = io;
        Add(_service);
        Add(_count);
        Add(_duration);
        Add(_concurrency);
        Add(_lb);
        Add(_deadline);
        Add(_wait);
        Add(_json);
        Validators.Add(result =>
        {
            if (result.GetResult(_count) is { IdentifierToken: not null } && result.GetResult(_duration) is { IdentifierToken: not null })
                result.AddError("--count and --duration: give one or the other, not both");
        });
        SetAction((parse, ct) => RegistryCommand.FailWhenStoppedAsync(() => CallAsync(parse, ct), _io, "interrupted while waiting for an instance", ct));
    }

    private async Task<int> CallAsync(ParseResult parse, CancellationToken ct)
    {
        var settings = _common.Resolve(parse, _io);
        var service = parse.GetValue(_service)!;
        var duration = parse.GetValue(_duration) is { } seconds ? TimeSpan.FromSeconds(seconds) : (TimeSpan?)null;
        var count = duration is null ? parse.GetValue(_count) ?? 100 : (long?)null;
        var concurrency = parse.GetValue(_concurrency) ?? 4;
        var wait = TimeSpan.FromSeconds(parse.GetValue(_wait) ?? 10);
        var callSettings = parse.GetValue(_deadline) is { } ms ? UserCallSettings.WithDeadline(TimeSpan.FromMilliseconds(ms)) : UserCallSettings.Default;

        using var host = CliHost.Build(settings);
        await host.StartAsync(ct);
        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
        var system = host.Services.GetRequiredService<ActorSystem>();

        CallSummary? summary;
        await using (var client = await BalancedUserClient.CreateAsync(system, service, parse.GetValue(_lb), callSettings, stop.Token))
        {
            if (!await WaitForInstanceAsync(client.Balancer, wait, stop.Token))
            {
                await host.StopAsync(CancellationToken.None);
                return RegistryCommand.Failed;
            }
            var failuresShown = 0;
            summary = await CallLoad.RunAsync(client, count, duration, concurrency, (id, outcome) =>
            {
                if (outcome.Succeeded) return;
                var shown = Interlocked.Increment(ref failuresShown);
                if (shown <= FailuresShown) _io.Warn($"call {id} failed after {outcome.Attempts} attempt(s): {outcome.Error}");
                if (shown == FailuresShown + 1) _io.Warn("further failed calls are only counted");
            }, stop.Token);
        }
        var stopped = stop.IsCancellationRequested;
        await host.StopAsync(CancellationToken.None);
        if (summary.Cut > 0)
            _io.Warn($"{summary.Cut} call(s) still in flight {CallLoad.InFlightGrace.TotalSeconds:0}s after the stop were cut; they are not counted");
        if (summary.Calls == 0 && stopped)
        {
            // Stopped after an instance showed up but before a call ended.
            _io.Warn(summary.Cut == 0 ? "interrupted before the first call" : "interrupted before a call ended");
            return RegistryCommand.Failed;
        }

        if (parse.GetValue(_json)) _io.WriteLine(JsonLines.Summary(summary));
        else foreach (var line in Table(summary)) _io.WriteLine(line);
        return summary.Failures == 0 ? RegistryCommand.Ok : RegistryCommand.Failed;
    }

    /// <summary>
    /// Waits, at most <paramref name="wait"/>, until the balancer has an instance to pick; says so on stderr when none
    /// came within <see cref="MembershipSubscriber.Patience"/> (the first listing of a reachable etcd comes sooner).
    /// </summary>
    private async Task<bool> WaitForInstanceAsync(ServiceBalancer balancer, TimeSpan wait, CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        var told = false;
        try
        {
            // The balancer's snapshot is read without a round trip; a short poll is the cheapest wait on it.
            while (balancer.Available.Count == 0 && Stopwatch.GetElapsedTime(started) < wait)
            {
                if (!told && Stopwatch.GetElapsedTime(started) >= MembershipSubscriber.Patience)
                {
                    told = true;
                    _io.Warn($"waiting up to {wait.TotalSeconds:0}s for an instance of '{balancer.Service}'");
                }
                await Task.Delay(WaitStep, ct);
            }
        }
        catch (OperationCanceledException)
        {
            _io.Warn("interrupted while waiting for an instance");
            return false;
        }
        if (balancer.Available.Count > 0) return true;
        _io.Warn($"no instance to call after {wait.TotalSeconds:0}s: {balancer.UnavailableReason}");
        return false;
    }

    private static IEnumerable<string> Table(CallSummary summary)
    {
        var rows = summary.ByInstance.Select(kv => new[]
        {
            kv.Key,
            kv.Value.ToString(CultureInfo.InvariantCulture),
            summary.Calls == 0 ? "-" : (100.0 * kv.Value / summary.Calls).ToString("0.0", CultureInfo.InvariantCulture) + "%",
        }).Prepend(["INSTANCE", "CALLS", "SHARE"]).ToList();
        var widths = new[] { rows.Max(r => r[0].Length), rows.Max(r => r[1].Length) };
        foreach (var r in rows) yield return $"{r[0].PadRight(widths[0])}  {r[1].PadLeft(widths[1])}  {r[2]}";
        yield return string.Create(CultureInfo.InvariantCulture,
            $"{summary.Calls} calls, {summary.Failures} failed, p50 {summary.P50Ms:0.###} ms, p99 {summary.P99Ms:0.###} ms");
    }

    private static string? Positive<T>(string name, T value, T max) where T : struct, System.Numerics.IBinaryInteger<T> =>
        value >= T.One && value <= max ? null : $"{name} {value}: expected a whole number from 1 to {max}";

    private static string? CheckPolicy(string policy) =>
        LoadBalancingPolicies.Names.Contains(policy) ? null : $"lb '{Printable.Excerpt(policy)}': expected one of {string.Join(", ", LoadBalancingPolicies.Names)}";

    private static Option<T> Required<T>(Option<T> option)
    {
        option.Required = true;
        return option;
    }
}
