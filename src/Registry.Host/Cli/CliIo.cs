namespace Registry.Host.Cli;

/// <summary>
/// Where a command writes and what it reads from its environment: stdout carries only the command's output
/// (JSON lines, tables), stderr every message for humans. Injected so tests run commands in-process. A command whose
/// output cannot be written (a full disk, a closed descriptor) is stopped, as SIGTERM would, and fails.
/// </summary>
/// <param name="output">stdout.</param>
/// <param name="error">stderr.</param>
/// <param name="environment">Reads an environment variable.</param>
/// <param name="stop">Cancelled when a write to stdout fails.</param>
internal sealed class CliIo(TextWriter output, TextWriter error, Func<string, string?> environment, CancellationTokenSource stop)
{
    private bool _outputFailed;

    public TextWriter Out { get; } = output;

    public TextWriter Error { get; } = error;

    public Func<string, string?> Environment { get; } = environment;

    /// <summary>True once a write to stdout has failed: the command then exits 1, whatever it returns.</summary>
    public bool OutputFailed
    {
        get
        {
            lock (Out) return _outputFailed;
        }
    }

    /// <summary>
    /// Writes one line to stdout and flushes it, so a consumer reading the pipe sees it at once. The first write that
    /// fails is told on stderr and stops the command; later lines are dropped.
    /// </summary>
    public void WriteLine(string line)
    {
        Exception failure;
        lock (Out)
        {
            if (_outputFailed) return;
            try
            {
                Out.WriteLine(line);
                Out.Flush();
                return;
            }
            catch (Exception e) when (IsWriteFailure(e))
            {
                _outputFailed = true;
                failure = e;
            }
        }
        Warn($"cannot write to stdout, stopping: {(failure.InnerException ?? failure).Message}");
        // Outside the lock: the stop runs the command's shutdown, whose last events are written here too.
        stop.Cancel();
    }

    /// <summary>
    /// Writes one <c>registry: …</c> line to stderr. When stderr cannot be written either (a full disk, a closed
    /// descriptor), the line is dropped: the exit code still tells.
    /// </summary>
    public void Warn(string message)
    {
        lock (Error)
        {
            try
            {
                Error.WriteLine($"registry: {message}");
                Error.Flush();
            }
            catch (Exception e) when (IsWriteFailure(e))
            {
            }
        }
    }

    /// <summary>
    /// A write that failed on its descriptor: an <see cref="IOException"/> (a full disk, a closed pipe), or for a closed
    /// descriptor (EBADF) an <see cref="UnauthorizedAccessException"/>, as .NET reports it.
    /// </summary>
    public static bool IsWriteFailure(Exception e) => e is IOException or UnauthorizedAccessException;
}
