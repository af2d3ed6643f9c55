using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Registry.Etcd;

/// <summary>
/// The etcd members the channel's picker avoids. A member that hangs with its connection open (SIGSTOP, a held
/// connection) stays ready to the channel, and round-robin alone would keep sending it every other member's share of
/// the calls, each lost until its call timeout, and put a re-opened keep-alive stream back on it. A member becomes
/// suspect when a call sent to it ends in an error after going unanswered for <c>unanswered</c> or longer (half the
/// call timeout: a live etcd answers in milliseconds), when it refuses a call for want of a leader or refuses the
/// connection for it (<see cref="Ended"/>), or when the keep-alive stream or a watch stream on it is found stuck. Calls
/// go round-robin over the members not suspected while one is ready. A suspect is cleared when it answers a call (one
/// sent while every ready member was suspect, or before it was suspected); <see cref="Probation"/> after it was last
/// suspected it is sent one unary call, a probe, and stays suspect for another probation unless that call is answered:
/// a member that still hangs then costs one call per probation, however many calls are made meanwhile.
/// </summary>
internal sealed class SuspectMembers
{
    /// <summary>How long a member stays suspect after it was last suspected, or probed, unless it answers a call first.</summary>
    public static readonly TimeSpan Probation = TimeSpan.FromSeconds(30);

    private readonly long _unansweredTicks;
    private readonly long _probationTicks;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    // Copied on every change (rare), read without a lock on every pick.
    private volatile Suspicion[] _suspects = [];
    private EndPoint? _keepAlive;
    // The member of each watch stream open, by the id its request carries (EtcdChannel.WatchIdHeader).
    private readonly ConcurrentDictionary<long, EndPoint> _watches = new();

    /// <param name="unanswered">How long a call must have gone unanswered for its failure to make its member suspect.</param>
    /// <param name="time">The clock; the system's by default.</param>
    public SuspectMembers(TimeSpan unanswered, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        _unansweredTicks = Ticks(unanswered);
        _probationTicks = Ticks(Probation);
    }

    /// <summary>The member the keep-alive stream was last put on.</summary>
    public EndPoint? KeepAliveMember => Volatile.Read(ref _keepAlive);

    /// <summary>A timestamp of the clock, as a call's start is taken.</summary>
    public long Now => _time.GetTimestamp();

    /// <summary>
    /// The index among <paramref name="members"/> (the ready ones) to send a call of <paramref name="kind"/> to on
    /// round-robin's <paramref name="turn"/>: for a unary call, a suspect whose probation is over, as its probe (a stream
    /// left on a member that still hangs would cost a lease's renewals or a watch's view, not one call); otherwise
    /// round-robin over the members not suspected, or over all when every one is. The keep-alive stream's call, and a
    /// watch stream's with its <paramref name="watch"/> id, record the member chosen.
    /// </summary>
    public int Choose(IReadOnlyList<EndPoint?> members, uint turn, EtcdCallKind kind, long watch = 0)
    {
        var chosen = (int)(turn % (uint)members.Count);
        var suspects = _suspects;
        if (suspects.Length > 0) chosen = Avoiding(suspects, members, turn, chosen, mayProbe: kind == EtcdCallKind.Unary);
        if (kind == EtcdCallKind.KeepAlive) Volatile.Write(ref _keepAlive, members[chosen]);
        else if (kind == EtcdCallKind.Watch && watch != 0 && members[chosen] is { } member) _watches[watch] = member;
        return chosen;
    }

    /// <summary>
    /// The watch stream <paramref name="watch"/> ended; <paramref name="stuck"/> when it was dropped for answering
    /// nothing for the silence timeout, which makes its member suspect.
    /// </summary>
    public void WatchEnded(long watch, bool stuck)
    {
        if (_watches.TryRemove(watch, out var member) && stuck) Suspect(member);
    }

    /// <summary>
    /// A call sent to <paramref name="member"/> at <paramref name="startedAt"/> (a <see cref="Now"/> timestamp) ended:
    /// with <paramref name="error"/>, or refused by etcd with <paramref name="refusal"/> (the message of an error
    /// answer, <see cref="TrailersOnlyHandler"/>), or answered when neither. An answer clears the member. "no leader" or
    /// a connection the member refused makes it suspect at once; another failure does once the call went unanswered
    /// long enough.
    /// </summary>
    /// <remarks>
    /// A refused connection means nothing listens there: a killed member. The channel can go on counting such a member
    /// as ready for seconds (seen after a leader was killed) and sends it its share of the calls, each failing at once:
    /// too soon to count as unanswered. Were the live members suspect meanwhile (streams stuck on them during the
    /// election that followed), every call and every re-opened stream would go to the dead member alone, the only one
    /// not suspected.
    /// </remarks>
    public void Ended(EndPoint member, long startedAt, Exception? error = null, string? refusal = null)
    {
        var refused = error?.GetBaseException() is SocketException { SocketErrorCode: SocketError.ConnectionRefused };
        if (refused || refusal == TrailersOnlyHandler.NoLeader) Suspect(member);
        else if (error is null && refusal is null) Clear(member);
        else if (Now - startedAt >= _unansweredTicks) Suspect(member);
    }

    /// <summary>
    /// A new keep-alive stream is opened: until it is put on a member, a stuck stream says nothing of the member the
    /// last one was on (a stream waiting for any member to be ready is found stuck too).
    /// </summary>
    public void ForgetKeepAliveMember() => Volatile.Write(ref _keepAlive, null);

    /// <summary>The keep-alive stream was found stuck: its member becomes suspect.</summary>
    public void SuspectKeepAliveMember()
    {
        if (KeepAliveMember is { } member) Suspect(member);
    }

    /// <summary>Makes <paramref name="member"/> suspect for <see cref="Probation"/> from now.</summary>
    public void Suspect(EndPoint member)
    {
        lock (_gate) _suspects = [.. _suspects.Where(s => !s.Member.Equals(member)), new Suspicion(member, Now)];
    }

    private void Clear(EndPoint member)
    {
        if (Find(_suspects, member) is null) return;
        lock (_gate) _suspects = [.. _suspects.Where(s => !s.Member.Equals(member))];
    }

    private int Avoiding(Suspicion[] suspects, IReadOnlyList<EndPoint?> members, uint turn, int proposed, bool mayProbe)
    {
        var now = Now;
        var trusted = 0;
        for (var index = 0; index < members.Count; index++)
        {
            if (members[index] is not { } member) continue;
            var suspicion = Find(suspects, member);
            if (suspicion is null) trusted++;
            else if (mayProbe && now - suspicion.Since >= _probationTicks && TryProbe(suspicion, now)) return index;
        }
        if (trusted == 0 || trusted == members.Count) return proposed;
        var nth = turn % (uint)trusted;
        for (var index = 0; ; index++)
        {
            if (members[index] is { } member && Find(suspects, member) is null && nth-- == 0) return index;
        }
    }

    /// <summary>Takes the probe of a suspect whose probation is over: one call goes there, the others wait another probation.</summary>
    private bool TryProbe(Suspicion suspicion, long now)
    {
        lock (_gate)
        {
            var index = Array.FindIndex(_suspects, s => ReferenceEquals(s, suspicion));
            if (index < 0) return false;
            Suspicion[] renewed = [.. _suspects];
            renewed[index] = suspicion with { Since = now };
            _suspects = renewed;
            return true;
        }
    }

    private static Suspicion? Find(Suspicion[] suspects, EndPoint member)
    {
        foreach (var suspicion in suspects)
        {
            if (suspicion.Member.Equals(member)) return suspicion;
        }
        return null;
    }

    private long Ticks(TimeSpan span) => (long)(span.TotalSeconds * _time.TimestampFrequency);

    /// <summary>A member suspected, or last probed, at <see cref="Since"/>, a timestamp of the clock.</summary>
    private sealed record Suspicion(EndPoint Member, long Since);
}
