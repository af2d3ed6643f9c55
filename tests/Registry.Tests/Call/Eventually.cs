namespace Registry.Tests.Call;

/// <summary>Waits for a condition that becomes true by itself (membership propagated, calls landed), failing with what was awaited.</summary>
internal static class Eventually
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? Patience);
        while (!condition())
        {
            try
            {
                await Task.Delay(10, cts.Token);
            }
            catch (OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"timed out after {(timeout ?? Patience).TotalSeconds:0}s waiting for {what}");
            }
        }
    }
}
