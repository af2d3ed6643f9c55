namespace Registry.Discovery;

/// <summary>
/// Published on the EventStream by the DiscoverySupervisor once the watcher of <paramref name="Service"/> has stopped
/// (its last subscriber left; or it could not be started again after a crash, which a watcher's construction and
/// start, doing nothing that can fail, do not give in practice): the health check forgets the service.
/// </summary>
internal sealed record WatcherStopped(string Service);
