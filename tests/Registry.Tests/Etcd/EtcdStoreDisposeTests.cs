using System.Globalization;
using Akka.Configuration;
using Registry.Etcd;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Etcd;

/// <summary>A disposed store leaves no connection to etcd behind (an etcd of its own, so no other test's connections count).</summary>
public sealed class EtcdStoreDisposeTests(EtcdNode etcd) : IClassFixture<EtcdNode>
{
    [Fact]
    public async Task Disposing_the_store_closes_its_connections_to_etcd()
    {
        var before = EstablishedTo(etcd.ClientPort);
        var store = new EtcdStore(RegistrySettings.From(ConfigurationFactory.ParseString($"registry.etcd.endpoints = [\"{etcd.Endpoint}\"]")));
        await store.ListAsync("/dispose/", CancellationToken.None);
        Assert.True(EstablishedTo(etcd.ClientPort) > before, "the listing opened no connection");

        await store.DisposeAsync();

        // The pool would keep an idle connection for about a minute; a disposed channel closes it at once.
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (EstablishedTo(etcd.ClientPort) > before) await Task.Delay(50, deadline.Token);
    }

    /// <summary>
    /// This process's TCP connections established to <paramref name="port"/>: its sockets (from /proc/self/fd) among
    /// the lines of /proc/net/tcp{,6} in state 01 whose remote port it is (etcd's own gateway connects to it too).
    /// </summary>
    private static int EstablishedTo(int port)
    {
        var sockets = Directory.EnumerateFiles("/proc/self/fd")
            .Select(fd => new FileInfo(fd).LinkTarget)
            .Where(target => target is not null && target.StartsWith("socket:[", StringComparison.Ordinal))
            .Select(target => target![8..^1])
            .ToHashSet(StringComparer.Ordinal);
        return new[] { "/proc/net/tcp", "/proc/net/tcp6" }.Where(File.Exists).SelectMany(File.ReadLines)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(f => f.Length > 9 && f[3] == "01" && sockets.Contains(f[9])
                        && int.Parse(f[2][(f[2].LastIndexOf(':') + 1)..], NumberStyles.HexNumber, CultureInfo.InvariantCulture) == port);
    }
}
