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
                _held = NewOpened();
            }
        }
    }

    private TaskCompletionSource _held = NewOpened();

    /// <summary>Completes once something (a transfer or a connection) waits at the gate since it last closed.</summary>
    public Task Held
    {
        get
        {
            lock (_lock) return _held.Task;
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

        return opened.IsCompleted ? Task.CompletedTask : HeldWaitAsync(opened, ct);
    }

    private Task HeldWaitAsync(Task opened, CancellationToken ct)
    {
        lock (_lock) _held.TrySetResult();
        return opened.WaitAsync(ct);
    }

    private static TaskCompletionSource NewOpened() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
