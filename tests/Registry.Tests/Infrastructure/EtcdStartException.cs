namespace Registry.Tests.Infrastructure;

/// <summary>An etcd member did not come up; the message carries the end of etcd's own output.</summary>
public sealed class EtcdStartException(string message, string etcdOutput, bool portTaken)
    : Exception($"{message}{Environment.NewLine}--- last etcd output ---{Environment.NewLine}{etcdOutput}")
{
    /// <summary>Whether etcd failed because one of its ports was taken by someone else (worth retrying elsewhere).</summary>
    public bool PortTaken { get; } = portTaken;
}
