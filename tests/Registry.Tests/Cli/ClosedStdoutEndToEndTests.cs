using System.Diagnostics;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>
/// <c>registry watch --json | head -1</c>: once its reader has gone, the command stops as on SIGTERM, and a reader gone
/// before the command has started stops it cleanly too.
/// </summary>
public sealed class ClosedStdoutEndToEndTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task Watch_exits_0_once_nobody_reads_its_output()
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80"));
        using var watch = StartWatch(service);
        var stderr = watch.Process.StandardError.ReadToEndAsync();
        Assert.Contains("\"event\":\"snapshot\"", await watch.Process.StandardOutput.ReadLineAsync().WaitAsync(RegistryProcess.Patience));

        watch.Process.StandardOutput.Dispose();

        await watch.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);
        Assert.True(watch.Process.ExitCode == 0, $"exit {watch.Process.ExitCode}: {await stderr}");
    }

    [Fact]
    public async Task Watch_exits_0_when_its_reader_is_gone_before_it_starts()
    {
        using var watch = StartWatch(CliTestData.UniqueService());
        var stderr = watch.Process.StandardError.ReadToEndAsync();
        // Closed at once: the process is still loading the runtime, long before its host runs.
        watch.Process.StandardOutput.Dispose();
        await watch.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);
        Assert.True(watch.Process.ExitCode == 0, $"exit {watch.Process.ExitCode}: {await stderr}");
    }

    [Fact]
    public async Task The_demo_exits_1_as_interrupted_when_its_reader_is_gone_before_it_starts()
    {
        using var demo = Start("demo");
        var stderr = demo.Process.StandardError.ReadToEndAsync();
        demo.Process.StandardOutput.Dispose();
        await demo.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);
        Assert.True(demo.Process.ExitCode == 1, $"exit {demo.Process.ExitCode}: {await stderr}");
        Assert.Contains("demo interrupted", await stderr);
    }

    private ChildProcess StartWatch(string service) => Start("watch", "--json", "--service", service, "--etcd", etcd.Endpoint);

    private static ChildProcess Start(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return ChildProcess.Start(start);
    }
}
