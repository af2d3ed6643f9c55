using Etcdserverpb;
using Grpc.Core;

namespace Registry.Tests.Infrastructure;

/// <summary>
/// A real etcd cluster (3 members by default) on free 127.0.0.1 ports, each member with its own data directory.
/// Members can be killed, stopped and restarted one by one through <see cref="Members"/>. Disposing kills every
/// member and deletes the data.
/// </summary>
public sealed class EtcdCluster : IAsyncLifetime, IAsyncDisposable, IDisposable
{
    private const int StartAttempts = 5;
    private static readonly TimeSpan LeaderTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan LeaderPollInterval = TimeSpan.FromMilliseconds(100);

    private readonly int _size;
    private EtcdNode[] _members = [];

    /// <summary>A 3-member cluster, not started yet (xunit starts a fixture through <see cref="IAsyncLifetime"/>).</summary>
    public EtcdCluster()
        : this(3)
    {
    }

    public EtcdCluster(int size)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(size, 1);
        _size = size;
    }

    public IReadOnlyList<EtcdNode> Members => _members;

    /// <summary>Every member's client URL.</summary>
    public IReadOnlyList<string> Endpoints => _members.Select(m => m.Endpoint).ToArray();

    /// <summary>Starts a cluster and waits until every member serves clients and they agree on a leader.</summary>
    public static async Task<EtcdCluster> StartNewAsync(int size = 3, CancellationToken ct = default)
    {
        var cluster = new EtcdCluster(size);
        try
        {
            await cluster.StartAsync(ct);
            return cluster;
        }
        catch
        {
            cluster.Dispose();
            throw;
        }
    }

    /// <summary>Starts every member on new free ports (trying others if one is taken meanwhile) and waits for a leader.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        if (_members.Length > 0)
        {
            throw new InvalidOperationException("the cluster has already been started");
        }

        for (var attempt = 1; ; attempt++)
        {
            _members = EtcdMemberSpec.NewCluster(_size).Select(spec => new EtcdNode(spec)).ToArray();
            try
            {
                await LaunchAllAsync(ct);
                await WaitForLeaderAsync(ct: ct);
                return;
            }
            catch (EtcdStartException e) when (e.PortTaken && attempt < StartAttempts)
            {
                DisposeMembers();
            }
        }
    }

    /// <summary>A client spread over every member; the caller disposes it.</summary>
    public EtcdTestClient CreateClient() => new(Endpoints);

    /// <summary>
    /// Waits until a majority of members answer and all that answer follow the same running leader, and returns it.
    /// After the leader is killed this is the new one, once elected.
    /// </summary>
    public async Task<EtcdNode> WaitForLeaderAsync(TimeSpan? timeout = null, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + (timeout ?? LeaderTimeout);
        var seen = "";
        while (DateTime.UtcNow < deadline)
        {
            var statuses = await Task.WhenAll(_members.Where(m => m.IsRunning).Select(m => TryStatusAsync(m, ct)));
            var answered = statuses.Where(s => s.Status is not null).ToArray();
            var leaderIds = answered.Select(s => s.Status!.Leader).Distinct().ToArray();
            if (answered.Length > _size / 2 && leaderIds is [var leaderId and not 0])
            {
                var leader = answered.FirstOrDefault(s => s.Status!.Header.MemberId == leaderId).Member;
                if (leader is not null)
                {
                    return leader;
                }
            }

            seen = string.Join(", ", statuses.Select(s => $"{s.Member.Name}: " + (s.Status is null ? "no answer" : $"leader {s.Status.Leader:x}")));
            await Task.Delay(LeaderPollInterval, ct);
        }

        throw new TimeoutException($"the etcd cluster agreed on no running leader within {(timeout ?? LeaderTimeout).TotalSeconds:0} s; last seen: {seen}");
    }

    /// <summary>Waits until <paramref name="member"/> says it has no leader (cut off from the quorum, say).</summary>
    public static async Task WaitForNoLeaderAsync(EtcdNode member, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + LeaderTimeout;
        while (await TryStatusAsync(member, ct) is not { Status.Leader: 0 })
        {
            if (DateTime.UtcNow >= deadline) throw new TimeoutException($"{member.Name} still had a leader after {LeaderTimeout.TotalSeconds:0} s");
            await Task.Delay(LeaderPollInterval, ct);
        }
    }

    /// <summary>Finds the current leader, SIGKILLs it and returns it (restart it with <see cref="EtcdNode.RestartAsync"/>).</summary>
    public async Task<EtcdNode> KillLeaderAsync(CancellationToken ct = default)
    {
        var leader = await WaitForLeaderAsync(ct: ct);
        leader.Kill();
        return leader;
    }

    public void Dispose() => DisposeMembers();

    public ValueTask DisposeAsync()
    {
        Dispose();
        return ValueTask.CompletedTask;
    }

    Task IAsyncLifetime.InitializeAsync() => StartAsync();

    Task IAsyncLifetime.DisposeAsync() => DisposeAsync().AsTask();

    private static async Task<(EtcdNode Member, StatusResponse? Status)> TryStatusAsync(EtcdNode member, CancellationToken ct)
    {
        try
        {
            return (member, await member.StatusAsync(ct));
        }
        catch (RpcException)
        {
            return (member, null);
        }
    }

    /// <summary>Launches every member and waits until all serve; the first member that fails stops the wait.</summary>
    private async Task LaunchAllAsync(CancellationToken ct)
    {
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        foreach (var member in _members)
        {
            member.Launch();
        }

        var waits = _members.Select(async member =>
        {
            try
            {
                await member.WaitUntilServingAsync(failed.Token);
            }
            catch
            {
                await failed.CancelAsync();
                throw;
            }
        }).ToArray();
        try
        {
            await Task.WhenAll(waits);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            // WhenAll surfaced a member that was only stopped because another one failed: report that one.
        }

        var failure = waits.Select(w => w.Exception?.InnerException).OfType<EtcdStartException>().FirstOrDefault();
        if (failure is not null)
        {
            throw failure;
        }
    }

    private void DisposeMembers()
    {
        foreach (var member in _members)
        {
            member.Dispose();
        }

        _members = [];
    }
}
