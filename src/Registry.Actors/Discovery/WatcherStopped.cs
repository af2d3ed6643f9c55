namespace Registry.Discovery;

/// <summary>
/// Published on the EventStream by the DiscoverySupervisor once the watcher of <paramref name="Service"/> has stopped
/// (its last subscriber left, or it failed to start): nobody holds a view of that service any more.
/// </summary>
internal sealed record WatcherStopped(string Service);
