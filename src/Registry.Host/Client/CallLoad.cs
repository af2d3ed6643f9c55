using System.Diagnostics;

namespace Registry.Host.Client;

/// <summary>
/// Places calls through a <see cref="BalancedUserClient"/> from <c>concurrency</c> workers, each starting its next call
/// when the previous one ended, until <c>count</c> calls were made, <c>duration</c> has passed, or <c>stop</c> is
/// cancelled. Calls already running when it stops may run to their end (bounded by their retry budget) and are
/// counted, for <see cref="InFlightGrace"/> at most: those still running then are cut, and only counted as cut.
/// </summary>
internal static class CallLoad
{
    /// <summary>How long calls in flight may go on after a stop, whatever their deadline.</summary>
    public static readonly TimeSpan InFlightGrace = TimeSpan.FromSeconds(2);

    /// <param name="client">The client path.</param>
    /// <param name="count">Calls to make; null to run for <paramref name="duration"/> (or until stopped).</param>
    /// <param name="duration">How long to keep calling; null to make <paramref name="count"/> calls (or until stopped).</param>
    /// <param name="concurrency">Calls in flight at once.</param>
    /// <param name="onOutcome">Called after each call, from the worker that made it.</param>
    /// <param name="stop">Stops starting calls.</param>
    public static async Task<CallSummary> RunAsync(BalancedUserClient client, long? count, TimeSpan? duration, int concurrency,
        Action<long, CallOutcome>? onOutcome = null, CancellationToken stop = default)
    {
        var started = Stopwatch.GetTimestamp();
        var next = -1L;
        var latencies = new CallLatencies();
        var tallies = Enumerable.Range(0, concurrency).Select(_ => new CallTally(latencies)).ToArray();
        using var cut = new CancellationTokenSource();
        using var cutAfterStop = stop.Register(() => cut.CancelAfter(InFlightGrace));
        var cutCalls = 0L;

        async Task WorkAsync(CallTally tally)
        {
            while (!stop.IsCancellationRequested && (duration is not { } d || Stopwatch.GetElapsedTime(started) < d))
            {
                var id = Interlocked.Increment(ref next);
                if (count is { } n && id >= n) return;
                // A stop lets calls in flight end, their outcome part of the summary, unless they outlast the grace.
                CallOutcome outcome;
                try
                {
                    outcome = await client.GetUserInfoAsync(id, cut.Token);
                }
                catch (OperationCanceledException) when (cut.IsCancellationRequested)
                {
                    Interlocked.Increment(ref cutCalls);
                    return;
                }
                tally.Add(outcome);
                onOutcome?.Invoke(id, outcome);
            }
        }

        await Task.WhenAll(tallies.Select(t => Task.Run(() => WorkAsync(t))));
        return CallSummary.Of(tallies, latencies, cutCalls);
    }
}
