namespace Registry.Tests.Infrastructure;

/// <summary>A thread-safe open/closed switch that byte pumps await before forwarding.</summary>
internal sealed class FlowGate
{
    private readonly object _lock = new();
    private TaskCompletionSource _opened = NewOpened();

    public FlowGate()
    {
        _opened.SetResult();
    }

    public void Open()
    {
        lock (_lock)
        {
            _opened.TrySetResult();
        }
    }

    public void Close()
    {
        lock (_lock)
        {
            if (_opened.Task.IsCompleted)
            {
                _opened = NewOpened();
            }
        }
    }

    /// <summary>Completes when the gate is open (at once if it is open now).</summary>
    public Task WaitOpenAsync(CancellationToken ct)
    {
        Task opened;
        lock (_lock)
        {
            opened = _opened.Task;
        }

        return opened.IsCompleted ? Task.CompletedTask : opened.WaitAsync(ct);
    }

    private static TaskCompletionSource NewOpened() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
