using System.Diagnostics;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>
/// A command whose stdout cannot be written (<c>&gt;/dev/full</c>, or closed: <c>&gt;&amp;-</c>): it says so on stderr,
/// stops as on SIGTERM (a registration is removed) and exits 1. A closed stderr changes no exit code.
/// </summary>
public sealed class FailedStdoutEndToEndTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    private const string Told = "registry: cannot write to stdout, stopping: ";

    [Theory]
    [InlineData(FullDevice, 18086, "No space left on device")]
    [InlineData(ClosedStdout, 18087, "Bad file descriptor")]
    public async Task Register_deregisters_and_exits_1_when_its_events_cannot_be_written(string stdout, int port, string cause)
    {
        var service = CliTestData.UniqueService();
        var key = $"/services/{service}/127.0.0.1:{port}";
        using var client = etcd.CreateClient();
        await using var watch = await client.WatchKeyAsync(key);
        using var register = Start(stdout, "register", "--service", service, "--address", $"127.0.0.1:{port}", "--etcd", etcd.Endpoint);
        var stderr = register.Process.StandardError.ReadToEndAsync();
        await register.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);

        Assert.True(register.Process.ExitCode == 1, $"exit {register.Process.ExitCode}: {await stderr}");
        Assert.Contains(Told + cause, await stderr);
        // Registered (its first event is what could not be written), then deregistered on the stop.
        await watch.WaitForAsync(e => e.Kind == WatchedEventKind.Delete, TimeSpan.FromSeconds(10));
        Assert.Equal([WatchedEventKind.Put, WatchedEventKind.Delete], watch.Events.Select(e => e.Kind));
    }

    [Theory]
    [InlineData(FullDevice)]
    [InlineData(ClosedStdout)]
    public async Task Watch_exits_1_when_its_output_cannot_be_written(string stdout)
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80"));
        using var watch = Start(stdout, "watch", "--json", "--service", service, "--etcd", etcd.Endpoint);
        var stderr = watch.Process.StandardError.ReadToEndAsync();
        await watch.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);

        Assert.True(watch.Process.ExitCode == 1, $"exit {watch.Process.ExitCode}: {await stderr}");
        Assert.Single((await stderr).Split('\n'), line => line.StartsWith(Told, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(FullDevice, "--help", "No space left on device")]
    [InlineData(ClosedStdout, "--help", "Bad file descriptor")]
    [InlineData(ClosedStdout, "--version", "Bad file descriptor")]
    public async Task Help_and_version_exit_1_saying_stdout_cannot_be_written(string stdout, string argument, string why)
    {
        using var registry = Start(stdout, argument);
        var stderr = registry.Process.StandardError.ReadToEndAsync();
        await registry.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);

        Assert.Equal(1, registry.Process.ExitCode);
        Assert.Equal($"{Told}{why}", (await stderr).TrimEnd('\n'));
    }

    [Fact]
    public async Task Watch_exits_1_when_stderr_cannot_be_written_either()
    {
        var service = CliTestData.UniqueService();
        using var client = etcd.CreateClient();
        await CliTestData.PutAsync(client, CliTestData.Instance(service, "a", "10.0.0.1:80"));
        using var watch = Start(FullDevice + " 2>&1", "watch", "--json", "--service", service, "--etcd", etcd.Endpoint);
        await watch.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);

        Assert.Equal(1, watch.Process.ExitCode);
    }

    [Fact]
    public async Task A_bad_argument_exits_2_when_stderr_is_closed()
    {
        using var register = Start("2>&-", "register", "--service", "user", "--address", "127.0.0.1:18088", "--ttl", "1", "--etcd", etcd.Endpoint);
        await register.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);

        Assert.Equal(2, register.Process.ExitCode);
    }

    [Fact]
    public async Task A_command_failing_on_a_file_of_its_own_says_it_failed_not_that_stdout_cannot_be_written()
    {
        // demo makes its etcd's data directory under TMPDIR: one that does not exist fails it with an IOException
        // while stdout works (the tour's first line is written). Only help and --version are written by the parser.
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        start.ArgumentList.Add("demo");
        start.Environment["TMPDIR"] = Path.Combine(Path.GetTempPath(), $"missing-{Guid.NewGuid():N}");
        using var demo = ChildProcess.Start(start);
        var stdout = demo.Process.StandardOutput.ReadToEndAsync();
        var stderr = demo.Process.StandardError.ReadToEndAsync();
        await demo.Process.WaitForExitAsync().WaitAsync(RegistryProcess.Patience);

        Assert.True(demo.Process.ExitCode == 1, $"exit {demo.Process.ExitCode}: {await stderr}");
        Assert.Contains("a tour of Registry", await stdout);
        Assert.Matches(@"^registry: failed: (FileNotFound|DirectoryNotFound)Exception: ", await stderr);
        Assert.DoesNotContain("stdout", await stderr);
    }

    private const string FullDevice = ">/dev/full";
    private const string ClosedStdout = ">&-";

    /// <summary>
    /// Starts the command with the shell <paramref name="redirection"/>: stdout on /dev/full, where every write fails
    /// (ENOSPC), or a descriptor closed (EBADF). stderr is read unless the redirection names it.
    /// </summary>
    private static ChildProcess Start(string redirection, params string[] args)
    {
        var start = new ProcessStartInfo("sh") { RedirectStandardError = !redirection.Contains("2>", StringComparison.Ordinal) };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add($"exec dotnet \"$@\" {redirection}");
        start.ArgumentList.Add("sh");
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "registry.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        return ChildProcess.Start(start);
    }
}
