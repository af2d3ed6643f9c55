namespace Registry.Host.Cli;

/// <summary>
/// Where a command writes and what it reads from its environment: stdout carries only the command's output
/// (JSON lines, tables), stderr every message for humans. Injected so tests run commands in-process.
/// </summary>
internal sealed record CliIo(TextWriter Out, TextWriter Error, Func<string, string?> Environment)
{
    /// <summary>Writes one line to stdout and flushes it, so a consumer reading the pipe sees it at once.</summary>
    public void WriteLine(string line)
    {
        lock (Out)
        {
            Out.WriteLine(line);
            Out.Flush();
        }
    }

    /// <summary>Writes one <c>registry: …</c> line to stderr.</summary>
    public void Warn(string message)
    {
        lock (Error)
        {
            Error.WriteLine($"registry: {message}");
            Error.Flush();
        }
    }
}
