using System.Runtime.InteropServices;

namespace Registry.Benchmarks.Scenarios;

/// <summary>What the figures were measured on.</summary>
public sealed record MachineInfo(int Cores, string Cpu, string Memory, string Os, string Dotnet, string Etcd, string LoadAverage)
{
    public static MachineInfo Read(string etcdVersion) => new(
        Environment.ProcessorCount,
        FirstValue("/proc/cpuinfo", "model name") ?? RuntimeInformation.ProcessArchitecture.ToString(),
        FirstValue("/proc/meminfo", "MemTotal") is { } kb && long.TryParse(kb.Split(' ')[0], out var k) ? $"{k / 1024.0 / 1024.0:0.0} GiB" : "unknown",
        OsName(),
        $"{RuntimeInformation.FrameworkDescription} ({RuntimeInformation.RuntimeIdentifier})",
        etcdVersion,
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "unknown");

    public string ToMarkdown() =>
        $"Machine: {Cores} cores ({Cpu}), {Memory} RAM, {Os}, {Dotnet}, etcd {Etcd}; load average at start {LoadAverage}.";

    private static string? FirstValue(string file, string name)
    {
        if (!File.Exists(file)) return null;
        return File.ReadLines(file)
            .Where(l => l.StartsWith(name, StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(':') + 1)..].Trim())
            .FirstOrDefault();
    }

    private static string OsName()
    {
        const string release = "/etc/os-release";
        var pretty = File.Exists(release)
            ? File.ReadLines(release).FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"')
            : null;
        return $"{pretty ?? RuntimeInformation.OSDescription} (kernel {Environment.OSVersion.Version})";
    }
}
