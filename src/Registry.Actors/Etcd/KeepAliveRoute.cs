using System.Net;

namespace Registry.Etcd;

/// <summary>
/// Which etcd member the keep-alive stream goes to. The channel's picker puts the stream on the member round-robin
/// gives, unless that is the member a stream was last found stuck on (one that hangs with its connection open, which
/// the channel still counts as ready) and another is ready: re-opened there, a short lease's stream would be stuck
/// again until the lease expired.
/// </summary>
internal sealed class KeepAliveRoute
{
    private EndPoint? _current;
    private EndPoint? _suspect;

    /// <summary>The member the stream was last put on.</summary>
    public EndPoint? Current => Volatile.Read(ref _current);

    /// <summary>The member a stream was last found stuck on.</summary>
    public EndPoint? Suspect => Volatile.Read(ref _suspect);

    /// <summary>
    /// The index among <paramref name="members"/> (the ready ones) to put a new stream on: <paramref name="proposed"/>,
    /// round-robin's choice, unless it is the suspect and another member is ready; the next one then.
    /// </summary>
    public int Choose(IReadOnlyList<EndPoint?> members, int proposed)
    {
        var suspect = Suspect;
        var chosen = proposed;
        if (suspect is not null && members.Count > 1 && Equals(members[proposed], suspect)) chosen = (proposed + 1) % members.Count;
        Volatile.Write(ref _current, members[chosen]);
        return chosen;
    }

    /// <summary>The stream put on <see cref="Current"/> was found stuck: the next one goes elsewhere when it can.</summary>
    public void SuspectCurrent() => Volatile.Write(ref _suspect, Current);
}
