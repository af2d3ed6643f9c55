using System.Diagnostics;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>
/// The built <c>registry</c> run from a copy of its directory whose <c>hocon/registry.conf</c> holds a setting that is not
/// valid: refused as a bad argument is, in one line naming the file and the key, exit 2, before any actor system starts.
/// </summary>
public sealed class HostHoconEndToEndTests
{
    [Theory]
    [InlineData("registry.ttl = 1s", new[] { "list" }, "registry.ttl: ttl 1: expected whole seconds from 2 to 3600")]
    [InlineData("registry.ttl = 10", new[] { "watch" }, "registry.ttl: '10': a duration needs a unit, such as 10s or 10ms")]
    [InlineData("registry.etcd.call-timeout = 15s", new[] { "register", "--service", "user", "--address", "127.0.0.1:8080" },
        "registry.etcd.call-timeout: 15s must not exceed the ttl (10s)")]
    [InlineData("registry.balancing.policy = foo", new[] { "call", "--service", "user" },
        "registry.balancing.policy: 'foo' is not one of random, round-robin, weighted, p2c, hash")]
    [InlineData("registry.ttl = 1s", new[] { "serve", "--service", "user", "--address", "127.0.0.1:1" },
        "registry.ttl: ttl 1: expected whole seconds from 2 to 3600")]
    [InlineData("registry.balancing = 5", new[] { "list" }, "registry.balancing: expected an object of settings")]
    public async Task A_bad_registry_setting_in_the_host_HOCON_is_one_line_naming_the_file_and_the_key_and_exit_2(
        string setting, string[] command, string expected)
    {
        var dir = TestDirectories.Create("host-hocon");
        try
        {
            foreach (var file in Directory.EnumerateFiles(AppContext.BaseDirectory, "*", SearchOption.AllDirectories))
            {
                var copy = Path.Combine(dir, Path.GetRelativePath(AppContext.BaseDirectory, file));
                Directory.CreateDirectory(Path.GetDirectoryName(copy)!);
                File.Copy(file, copy);
            }
            var hocon = Path.Combine(dir, "hocon", "registry.conf");
            await File.AppendAllTextAsync(hocon, $"\n{setting}\n");

            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add(Path.Combine(dir, "registry.dll"));
            foreach (var arg in command) start.ArgumentList.Add(arg);
            // Nothing listens there: a command that got as far as etcd would wait rather than exit.
            start.ArgumentList.Add("--etcd");
            start.ArgumentList.Add("http://127.0.0.1:1");
            start.Environment.Remove("REGISTRY_ETCD");
            start.Environment.Remove("REGISTRY_LOG_LEVEL");
            using var registry = ChildProcess.Start(start);
            var stderr = registry.Process.StandardError.ReadToEndAsync();
            var stdout = await registry.Process.StandardOutput.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(30));
            await registry.Process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));

            var lines = (await stderr).TrimEnd('\n').Split('\n');
            Assert.True(lines.Length == 1, $"expected one line on stderr, got:\n{string.Join('\n', lines)}");
            Assert.StartsWith($"registry: {hocon}: {expected}", lines[0]);
            Assert.Equal(2, registry.Process.ExitCode);
            Assert.Empty(stdout);
        }
        finally
        {
            TestDirectories.Delete(dir);
        }
    }
}
