using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

public sealed class SuspectMembersTests
{
    private static readonly EndPoint?[] Members = [new DnsEndPoint("127.0.0.1", 1), new DnsEndPoint("127.0.0.1", 2), new DnsEndPoint("127.0.0.1", 3)];
    private static readonly TimeSpan Unanswered = TimeSpan.FromSeconds(1);

    // As grpc-dotnet reports a call whose connection failed: the socket's error inside the HTTP request's.
    private static readonly Exception Reset = new HttpRequestException("Connection reset by peer", new SocketException((int)SocketError.ConnectionReset));
    private static readonly Exception Refused = new HttpRequestException("Connection refused", new SocketException((int)SocketError.ConnectionRefused));

    private readonly FakeTimeProvider _time = new();
    private readonly SuspectMembers _suspects;

    public SuspectMembersTests() => _suspects = new SuspectMembers(Unanswered, _time);

    [Fact]
    public void Without_a_suspect_a_call_goes_where_round_robin_says()
    {
        Assert.Equal(2, _suspects.Choose(Members, 2, EtcdCallKind.Unary));
        Assert.Equal(0, _suspects.Choose(Members, 0, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_call_that_failed_after_going_unanswered_long_enough_makes_its_member_suspect_and_calls_skip_it()
    {
        var startedAt = _suspects.Now;
        _time.Advance(Unanswered);

        _suspects.Ended(Members[1]!, startedAt, Reset);

        Assert.Equal(2, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
        Assert.Equal(0, _suspects.Choose(Members, 0, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_call_that_failed_sooner_says_nothing_about_its_member()
    {
        // A reset connection: the channel sees that itself (a refused one it can miss, below).
        var startedAt = _suspects.Now;
        _time.Advance(Unanswered - TimeSpan.FromMilliseconds(1));

        _suspects.Ended(Members[1]!, startedAt, Reset);

        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_connection_refused_makes_its_member_suspect_at_once()
    {
        // A killed member the channel still counts as ready: with the other two suspect (streams stuck on them during
        // the election), every call went to it alone.
        _suspects.Suspect(Members[0]!);
        _suspects.Suspect(Members[2]!);

        _suspects.Ended(Members[1]!, _suspects.Now, Refused);

        Assert.Equal([0, 1, 2], Enumerable.Range(0, 3).Select(turn => _suspects.Choose(Members, (uint)turn, EtcdCallKind.KeepAlive)));
    }

    [Fact]
    public void A_refusal_for_want_of_a_leader_makes_its_member_suspect_at_once()
    {
        _suspects.Ended(Members[1]!, _suspects.Now, refusal: TrailersOnlyHandler.NoLeader);

        Assert.Equal(2, _suspects.Choose(Members, 1, EtcdCallKind.KeepAlive));
    }

    [Fact]
    public void Another_refusal_soon_after_the_call_started_says_nothing_about_its_member()
    {
        _suspects.Ended(Members[1]!, _suspects.Now, refusal: "etcdserver: request timed out");

        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Fact]
    public void Calls_go_round_robin_over_the_members_not_suspected()
    {
        _suspects.Suspect(Members[0]!);
        var calls = new int[Members.Length];

        for (var turn = 0u; turn < 300; turn++) calls[_suspects.Choose(Members, turn, EtcdCallKind.Unary)]++;

        // Not 200 and 100: the member after the suspect does not take its share too.
        Assert.Equal([0, 150, 150], calls);
    }

    [Fact]
    public void Every_suspect_is_skipped_and_the_member_not_suspected_is_chosen()
    {
        _suspects.Suspect(Members[0]!);
        _suspects.Suspect(Members[1]!);

        Assert.Equal(2, _suspects.Choose(Members, 0, EtcdCallKind.Unary));
        Assert.Equal(2, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Fact]
    public void When_every_ready_member_is_suspect_round_robin_decides()
    {
        foreach (var member in Members) _suspects.Suspect(member!);

        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
        Assert.Equal(0, _suspects.Choose([Members[0]], 0, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_suspect_that_answers_a_call_is_cleared()
    {
        _suspects.Suspect(Members[1]!);

        _suspects.Ended(Members[1]!, _suspects.Now);

        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_suspect_is_tried_again_after_its_probation_counted_from_when_it_was_last_suspected()
    {
        _suspects.Suspect(Members[1]!);
        _time.Advance(SuspectMembers.Probation / 2);
        _suspects.Suspect(Members[1]!);

        _time.Advance(SuspectMembers.Probation / 2);
        Assert.Equal(2, _suspects.Choose(Members, 1, EtcdCallKind.Unary));

        _time.Advance(SuspectMembers.Probation / 2);
        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_suspect_whose_probation_is_over_takes_one_call_and_another_probation_unless_it_answers()
    {
        _suspects.Suspect(Members[1]!);
        _time.Advance(SuspectMembers.Probation);

        // However many calls are made while the probe is out, one goes to the suspect: it may still hang.
        var probes = Enumerable.Range(0, 30).Count(turn => _suspects.Choose(Members, (uint)turn, EtcdCallKind.Unary) == 1);
        Assert.Equal(1, probes);

        _time.Advance(SuspectMembers.Probation);
        Assert.Equal(1, _suspects.Choose(Members, 0, EtcdCallKind.Unary));
        _suspects.Ended(Members[1]!, _suspects.Now);
        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_stream_is_never_the_probe_of_a_suspect_a_unary_call_is(bool keepAlive)
    {
        var stream = keepAlive ? EtcdCallKind.KeepAlive : EtcdCallKind.Watch;
        _suspects.Suspect(Members[1]!);
        _time.Advance(SuspectMembers.Probation);

        // A stream left on a member that still hangs would cost a lease's renewals or a watch's view.
        Assert.Equal(2, _suspects.Choose(Members, 1, stream));
        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_keep_alive_stream_found_stuck_makes_its_member_suspect_and_the_next_one_goes_elsewhere()
    {
        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.KeepAlive));
        Assert.Equal(Members[1], _suspects.KeepAliveMember);

        // Other calls do not move the stream's member.
        _suspects.Choose(Members, 2, EtcdCallKind.Unary);
        _suspects.SuspectKeepAliveMember();

        Assert.Equal(0, _suspects.Choose(Members, 2, EtcdCallKind.Unary));
        Assert.Equal(2, _suspects.Choose(Members, 1, EtcdCallKind.KeepAlive));
        Assert.Equal(Members[2], _suspects.KeepAliveMember);
    }

    [Fact]
    public void A_keep_alive_stream_found_stuck_before_it_was_put_on_a_member_makes_no_member_suspect()
    {
        _suspects.Choose(Members, 1, EtcdCallKind.KeepAlive);

        // The next stream waits for a member to be ready, and is found stuck meanwhile.
        _suspects.ForgetKeepAliveMember();
        _suspects.SuspectKeepAliveMember();

        Assert.Null(_suspects.KeepAliveMember);
        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }

    [Fact]
    public void A_watch_stream_dropped_as_stuck_makes_its_own_member_suspect()
    {
        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Watch, watch: 7));
        Assert.Equal(2, _suspects.Choose(Members, 2, EtcdCallKind.Watch, watch: 8));

        _suspects.WatchEnded(7, stuck: true);

        // Member 2, of the other watch, is still chosen; member 1 is skipped.
        Assert.Equal([0, 2, 0, 2], Enumerable.Range(0, 4).Select(turn => _suspects.Choose(Members, (uint)turn, EtcdCallKind.Watch, watch: 9 + turn)));
    }

    [Fact]
    public void A_watch_stream_that_ended_otherwise_or_was_never_put_on_a_member_makes_no_member_suspect()
    {
        _suspects.Choose(Members, 1, EtcdCallKind.Watch, watch: 7);

        _suspects.WatchEnded(7, stuck: false);
        // Ended already, and one never put on a member: nothing to suspect.
        _suspects.WatchEnded(7, stuck: true);
        _suspects.WatchEnded(8, stuck: true);

        Assert.Equal(1, _suspects.Choose(Members, 1, EtcdCallKind.Unary));
    }
}
