namespace Registry.Tests.Infrastructure;

/// <summary>Everything needed to start one etcd member: identity, ports, data directory and the cluster it joins.</summary>
internal sealed record EtcdMemberSpec(
    string Name, int ClientPort, int PeerPort, string DataDir, string InitialCluster, string ClusterToken, int ElectionTimeoutMs)
{
    /// <summary>
    /// Progress notifications every 100 ms instead of etcd's 10 minutes, so a watch can prove it has caught up
    /// (<see cref="DirectWatch.CatchUpAsync"/>) and a silent stream is noticed quickly.
    /// </summary>
    public static readonly TimeSpan ProgressNotifyInterval = TimeSpan.FromMilliseconds(100);

    public string ClientUrl => $"http://127.0.0.1:{ClientPort}";

    public string PeerUrl => $"http://127.0.0.1:{PeerPort}";

    /// <summary>Specs for a new cluster of <paramref name="size"/> members on fresh free ports, each with a new data dir.</summary>
    public static EtcdMemberSpec[] NewCluster(int size)
    {
        var ports = FreePorts.Take(2 * size);
        var names = Enumerable.Range(0, size).Select(i => $"etcd{i}").ToArray();
        var initialCluster = string.Join(",", names.Select((name, i) => $"{name}=http://127.0.0.1:{ports[2 * i + 1]}"));
        // A token unique to this cluster keeps members of another test's cluster from joining it on a reused port.
        var token = $"registry-tests-{Guid.NewGuid():N}";
        // etcd's default timing for a real cluster, where a short timeout under a loaded test machine would cause
        // spurious leader changes. A single member has no one to lose an election to, and a short timeout lets it
        // elect itself quickly after a restart (it waits one randomised timeout, 1-2 s with the default).
        var electionTimeoutMs = size == 1 ? 200 : 1000;
        return names
            .Select((name, i) => new EtcdMemberSpec(
                name, ports[2 * i], ports[2 * i + 1], TestDirectories.Create($"etcd-{name}"), initialCluster, token, electionTimeoutMs))
            .ToArray();
    }

    public IEnumerable<string> Arguments() =>
    [
        "--name", Name,
        "--data-dir", DataDir,
        "--listen-client-urls", ClientUrl,
        "--advertise-client-urls", ClientUrl,
        "--listen-peer-urls", PeerUrl,
        "--initial-advertise-peer-urls", PeerUrl,
        "--initial-cluster", InitialCluster,
        "--initial-cluster-token", ClusterToken,
        "--initial-cluster-state", "new",
        "--heartbeat-interval", $"{ElectionTimeoutMs / 10}",
        "--election-timeout", $"{ElectionTimeoutMs}",
        // a restarted member must not depose a healthy leader just by rejoining
        "--pre-vote",
        "--experimental-watch-progress-notify-interval", $"{ProgressNotifyInterval.TotalMilliseconds}ms",
        "--logger", "zap",
        "--log-outputs", "stderr",
    ];
}
