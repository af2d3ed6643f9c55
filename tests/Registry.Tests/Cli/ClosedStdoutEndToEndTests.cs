using System.Diagnostics;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary><c>registry watch --json | head -1</c>: once its reader has gone, the command stops as on SIGTERM.</summary>
public sealed class ClosedStdoutEndToEndTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task Watch_exits_0_once_nobody_reads_its_output()
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80"));
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { Path.Combine(AppContext.BaseDirectory, "registry.dll"), "watch", "--json", "--service", service, "--etcd", etcd.Endpoint })
            start.ArgumentList.Add(arg);
        using var watch = Process.Start(start)!;
        var stderr = watch.StandardError.ReadToEndAsync();
        try
        {
            Assert.Contains("\"event\":\"snapshot\"", await watch.StandardOutput.ReadLineAsync().WaitAsync(RegistryProcess.Patience));

            watch.StandardOutput.Dispose();

            await watch.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);
            Assert.True(watch.ExitCode == 0, $"exit {watch.ExitCode}: {await stderr}");
        }
        finally
        {
            if (!watch.HasExited) watch.Kill(entireProcessTree: true);
        }
    }
}
