using System.Runtime.InteropServices;

namespace Registry.Host.Cli;

/// <summary>
/// Stops the command as SIGTERM would once nobody reads its stdout any more (<c>registry watch --json | head -1</c>):
/// .NET drops writes to a pipe whose reader has gone, so the command would otherwise run on unseen. One background
/// thread waits in poll(2) for the error or hang-up of stdout, which costs nothing until it comes; a file, a terminal
/// that stays open or /dev/null never raises it. Linux only.
/// </summary>
internal static class ClosedStdout
{
    private const short PollErr = 0x008;
    private const short PollHup = 0x010;
    private const int Interrupted = 4; // EINTR

    /// <summary>Cancels <paramref name="closed"/> once stdout's reader has gone, whether before the command started or after.</summary>
    public static void CancelWhenClosed(CancellationTokenSource closed)
    {
        if (!OperatingSystem.IsLinux()) return;
        new Thread(() =>
        {
            // No events asked for: poll reports only the error and hang-up conditions, which it always does.
            var stdout = new PollFd { Fd = 1 };
            int ready;
            do ready = Poll(ref stdout, 1, -1);
            while (ready < 0 && Marshal.GetLastPInvokeError() == Interrupted);
            if (ready > 0 && (stdout.Revents & (PollErr | PollHup)) != 0) closed.Cancel();
        }) { IsBackground = true, Name = "stdout-closed" }.Start();
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [DllImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static extern int Poll(ref PollFd fds, nuint count, int timeout);
}
