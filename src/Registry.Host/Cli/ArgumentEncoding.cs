using System.Buffers;
using System.Text;
using System.Text.Unicode;
using Registry.Etcd;

namespace Registry.Host.Cli;

/// <summary>
/// Arguments whose bytes are not UTF-8 (typed in a Latin-1 terminal, say). .NET hands them to the program with each
/// bad byte replaced by U+FFFD, so <c>--id a\xFFb</c> and <c>--id a\xFEb</c> would read as one id and share a key:
/// such an argument is refused instead, naming it. Linux only: the bytes come from <c>/proc/self/cmdline</c>.
/// </summary>
internal static class ArgumentEncoding
{
    /// <summary>What is wrong with the first argument of <paramref name="args"/> that is not UTF-8; null when none is.</summary>
    public static string? FirstProblem(string[] args)
    {
        if (!OperatingSystem.IsLinux()) return null;
        byte[] cmdline;
        try
        {
            cmdline = File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
        // Each NUL-terminated: the program (the app host, or dotnet and the dll), then the arguments.
        var raw = Parts(cmdline);
        if (raw.Count < args.Length) return null;
        for (var i = 0; i < args.Length; i++)
        {
            var bytes = raw[raw.Count - args.Length + i];
            if (Utf8.IsValid(bytes)) continue;
            var name = i > 0 && args[i - 1].StartsWith('-') ? args[i - 1] : $"argument {i + 1}";
            var bad = bytes[FirstInvalid(bytes)];
            // Shown as a key of etcd is: each bad byte as U+DC00 + the byte.
            return $"{name} '{Printable.Excerpt(EtcdStore.KeyText(bytes))}': not UTF-8 (\\udc{bad:x2} is the byte 0x{bad:x2}); give it in UTF-8";
        }
        return null;
    }

    private static List<byte[]> Parts(byte[] cmdline)
    {
        var parts = new List<byte[]>();
        for (var start = 0; start < cmdline.Length;)
        {
            var end = Array.IndexOf(cmdline, (byte)0, start);
            if (end < 0) end = cmdline.Length;
            parts.Add(cmdline[start..end]);
            start = end + 1;
        }
        return parts;
    }

    private static int FirstInvalid(byte[] bytes)
    {
        var at = 0;
        while (Rune.DecodeFromUtf8(bytes.AsSpan(at), out _, out var length) == OperationStatus.Done) at += length;
        return at;
    }
}
