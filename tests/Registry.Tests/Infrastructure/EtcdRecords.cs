namespace Registry.Tests.Infrastructure;

/// <summary>One key as etcd holds it, values decoded as UTF-8.</summary>
public sealed record EtcdEntry(string Key, string Value, long LeaseId, long CreateRevision, long ModRevision, long Version);

/// <summary>What happened to a key in a watched range.</summary>
public enum WatchedEventKind
{
    Put,
    Delete,
}

/// <summary>One event seen by a <see cref="DirectWatch"/>; <see cref="Revision"/> is the revision of the change.</summary>
public sealed record WatchedEvent(WatchedEventKind Kind, string Key, string Value, long Revision, long LeaseId);
