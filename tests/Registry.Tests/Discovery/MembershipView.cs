using System.Collections.Immutable;

namespace Registry.Tests.Discovery;

/// <summary>
/// What a subscriber holds after applying membership events in order. Fails on an event that cannot follow what
/// came before (an "up" for a known instance, a "down" or "update" for an unknown one): a duplicated or missed event.
/// </summary>
internal sealed class MembershipView
{
    private readonly Dictionary<string, ServiceInstance> _instances = new(StringComparer.Ordinal);

    public long Revision { get; private set; }

    public bool Stale { get; private set; }

    public int Snapshots { get; private set; }

    /// <summary>How many instances were reported down.</summary>
    public int Downs { get; private set; }

    public IReadOnlyDictionary<string, ServiceInstance> Instances => _instances;

    public static string KeyOf(ServiceInstance instance) => $"{instance.Service}/{instance.Id}";

    /// <summary>Set when etcd is made to lose its data: its revisions start again from 1.</summary>
    public bool RevisionsMayGoBack { get; set; }

    public void Apply(MembershipEvent e)
    {
        Assert.True(RevisionsMayGoBack || e.Revision >= Revision, $"revision went back from {Revision} to {e.Revision} with {e}");
        Revision = e.Revision;
        switch (e)
        {
            case MembershipSnapshot snapshot:
                Snapshots++;
                _instances.Clear();
                foreach (var instance in snapshot.Instances) _instances.Add(KeyOf(instance), instance);
                Stale = snapshot.Stale;
                break;
            case InstanceUp up:
                Assert.True(_instances.TryAdd(KeyOf(up.Instance), up.Instance), $"duplicate up for {KeyOf(up.Instance)}");
                break;
            case InstanceDown down:
                Downs++;
                Assert.True(_instances.Remove(KeyOf(down.Instance), out var gone), $"down for unknown {KeyOf(down.Instance)}");
                Assert.Equal(gone, down.Instance);
                break;
            case InstanceUpdated updated:
                Assert.True(_instances.TryGetValue(KeyOf(updated.Instance), out var before), $"update for unknown {KeyOf(updated.Instance)}");
                Assert.Equal(before, updated.Previous);
                Assert.NotEqual(updated.Previous, updated.Instance);
                _instances[KeyOf(updated.Instance)] = updated.Instance;
                break;
            case MembershipStale stale:
                Stale = stale.Stale;
                break;
        }
    }

    public ImmutableSortedDictionary<string, ServiceInstance> ToSorted() => _instances.ToImmutableSortedDictionary(StringComparer.Ordinal);
}
