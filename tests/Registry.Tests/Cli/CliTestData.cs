using System.Collections.Immutable;
using System.Text;
using Registry.Tests.Infrastructure;

namespace Registry.Tests.Cli;

/// <summary>What the command-line tests put into etcd and how they read what the command says.</summary>
internal static class CliTestData
{
    /// <summary>A service name no other test uses, so tests sharing an etcd never see each other's keys.</summary>
    public static string UniqueService() => $"svc-{Guid.NewGuid():N}"[..16];

    /// <summary>An etcd URL on a port nothing listens on, for the whole run: FreePorts hands it to no one else.</summary>
    public static string UnreachableEndpoint() => $"http://127.0.0.1:{FreePorts.Take(1)[0]}";

    /// <summary>An instance with a fixed registration time, so a test can compare it with what comes back.</summary>
    public static ServiceInstance Instance(string service, string id, string? address = null, int weight = 1, params (string Key, string Value)[] metadata) =>
        ServiceInstance.Create(service, address ?? id, id) with
        {
            Weight = weight,
            Metadata = metadata.ToImmutableSortedDictionary(m => m.Key, m => m.Value, StringComparer.Ordinal),
            RegisteredAt = DateTimeOffset.UnixEpoch,
        };

    /// <summary>Writes <paramref name="instance"/> under its key, its value as a registration writes it (without a lease, which a registration would have).</summary>
    public static Task<long> PutAsync(EtcdTestClient client, ServiceInstance instance) =>
        client.PutAsync(InstanceCodec.Key(InstanceCodec.DefaultPrefix, instance.Service, instance.Id), Encoding.UTF8.GetString(InstanceCodec.Encode(instance)));

    /// <summary>
    /// The stderr lines that complain about something: everything but the note that etcd has not answered within the
    /// command's patience, which a loaded test machine may take.
    /// </summary>
    public static IEnumerable<string> Complaints(IEnumerable<string> stderr) =>
        stderr.Where(line => !line.StartsWith("registry: waiting for etcd at ", StringComparison.Ordinal));
}
