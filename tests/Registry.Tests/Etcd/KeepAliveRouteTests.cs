using System.Net;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

public sealed class KeepAliveRouteTests
{
    private static readonly EndPoint?[] Members = [new DnsEndPoint("127.0.0.1", 1), new DnsEndPoint("127.0.0.1", 2), new DnsEndPoint("127.0.0.1", 3)];

    [Fact]
    public void Without_a_suspect_the_stream_goes_where_round_robin_says()
    {
        var route = new KeepAliveRoute();

        Assert.Equal(2, route.Choose(Members, 2));
        Assert.Equal(Members[2], route.Current);
    }

    [Fact]
    public void A_stream_found_stuck_makes_its_member_suspect_and_the_next_goes_to_the_next_member()
    {
        var route = new KeepAliveRoute();
        route.Choose(Members, 1);

        route.SuspectCurrent();

        Assert.Equal(Members[1], route.Suspect);
        Assert.Equal(2, route.Choose(Members, 1));
        Assert.Equal(0, route.Choose(Members, 0));
    }

    [Fact]
    public void The_suspect_is_used_when_it_is_the_only_member_ready()
    {
        var route = new KeepAliveRoute();
        route.Choose(Members, 0);
        route.SuspectCurrent();

        Assert.Equal(0, route.Choose([Members[0]], 0));
    }
}
