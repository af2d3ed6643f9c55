using System.Collections.Immutable;
using Registry.Host.Cli;

namespace Registry.Tests.Cli;

/// <summary>What <c>registry watch</c> prints for each membership event, without etcd.</summary>
public sealed class CurrentMembershipTests
{
    private static readonly ServiceInstance A = CliTestData.Instance("user", "a", "10.0.0.1:80");
    private static readonly ServiceInstance B = CliTestData.Instance("user", "b", "10.0.0.2:80");
    private static readonly ServiceInstance C = CliTestData.Instance("user", "c", "10.0.0.3:80");

    private readonly CurrentMembership _membership = new();

    [Fact]
    public void The_first_snapshot_is_one_snapshot_line_per_instance_in_service_and_id_order()
    {
        var order = CliTestData.Instance("order", "z", "10.0.1.1:80");

        var lines = _membership.Apply(Snapshot(7, B, order, A));

        Assert.Equal([Line(MembershipChangeKind.Snapshot, order, 7), Line(MembershipChangeKind.Snapshot, A, 7), Line(MembershipChangeKind.Snapshot, B, 7)], lines);
    }

    [Fact]
    public void An_empty_first_snapshot_prints_nothing()
    {
        Assert.Empty(_membership.Apply(Snapshot(3)));
        Assert.Equal([Line(MembershipChangeKind.Up, A, 4)], _membership.Apply(new InstanceUp("user", A, 4)));
    }

    [Fact]
    public void Changes_are_printed_as_up_update_and_down()
    {
        _membership.Apply(Snapshot(5, A));
        var heavier = A with { Weight = 3 };

        Assert.Equal([Line(MembershipChangeKind.Up, B, 6)], _membership.Apply(new InstanceUp("user", B, 6)));
        Assert.Equal([new MembershipChange(MembershipChangeKind.Update, heavier, 7, A)], _membership.Apply(new InstanceUpdated("user", A, heavier, 7)));
        Assert.Equal([Line(MembershipChangeKind.Down, B, 8)], _membership.Apply(new InstanceDown("user", B, 8)));
        Assert.Equal([heavier], _membership.Instances);
    }

    [Fact]
    public void A_later_snapshot_is_printed_as_the_exact_difference_never_as_snapshot_lines()
    {
        _membership.Apply(Snapshot(5, A, B));
        var moved = B with { Address = "10.0.0.9:80" };

        var lines = _membership.Apply(Snapshot(9, moved, C));

        Assert.Equal(
            [Line(MembershipChangeKind.Down, A, 9), new MembershipChange(MembershipChangeKind.Update, moved, 9, B), Line(MembershipChangeKind.Up, C, 9)],
            lines);
        Assert.Equal([moved, C], _membership.Instances);
        Assert.Empty(_membership.Apply(Snapshot(10, moved, C)));
    }

    [Fact]
    public void An_event_that_does_not_follow_from_the_view_is_printed_as_what_it_does_to_it()
    {
        _membership.Apply(Snapshot(5, A));

        Assert.Empty(_membership.Apply(new InstanceUp("user", A, 6)));
        Assert.Empty(_membership.Apply(new InstanceDown("user", B, 7)));
        Assert.Equal([Line(MembershipChangeKind.Up, C, 8)], _membership.Apply(new InstanceUpdated("user", C with { Weight = 2 }, C, 8)));
        Assert.Equal([new MembershipChange(MembershipChangeKind.Update, A with { Weight = 5 }, 9, A)], _membership.Apply(new InstanceUp("user", A with { Weight = 5 }, 9)));
    }

    [Fact]
    public void Events_before_the_first_snapshot_and_stale_flags_print_nothing()
    {
        Assert.Empty(_membership.Apply(new InstanceUp("user", A, 4)));
        Assert.Equal([Line(MembershipChangeKind.Snapshot, B, 5)], _membership.Apply(Snapshot(5, B)));
        Assert.Empty(_membership.Apply(new MembershipStale("user", true, "cut", 5)));
        Assert.Empty(_membership.Apply(new MembershipStale("user", false, null, 5)));
    }

    [Fact]
    public void Json_lines_carry_the_listed_fields_then_weight_and_metadata_except_on_a_down()
    {
        var instance = CliTestData.Instance("user", "127.0.0.1:8080", weight: 2, metadata: ("zone", "a"));

        Assert.Equal("""{"event":"snapshot","service":"user","id":"127.0.0.1:8080","address":"127.0.0.1:8080","revision":12,"weight":2,"metadata":{"zone":"a"}}""",
            JsonLines.Membership(Line(MembershipChangeKind.Snapshot, instance, 12)));
        Assert.Equal("""{"event":"up","service":"user","id":"127.0.0.1:8080","address":"127.0.0.1:8080","revision":12,"weight":2,"metadata":{"zone":"a"}}""",
            JsonLines.Membership(Line(MembershipChangeKind.Up, instance, 12)));
        Assert.Equal("""{"event":"update","service":"user","id":"127.0.0.1:8080","address":"127.0.0.1:8080","revision":13,"weight":2,"metadata":{"zone":"a"}}""",
            JsonLines.Membership(new MembershipChange(MembershipChangeKind.Update, instance, 13, instance with { Weight = 1 })));
        Assert.Equal("""{"event":"down","service":"user","id":"127.0.0.1:8080","address":"127.0.0.1:8080","revision":14}""",
            JsonLines.Membership(Line(MembershipChangeKind.Down, instance, 14)));
    }

    [Fact]
    public void Readable_lines_show_the_change_its_instance_and_revision()
    {
        var instance = CliTestData.Instance("user", "127.0.0.1:8080");
        var named = CliTestData.Instance("user", "a1", "10.0.0.1:80");

        Assert.Equal("= user 127.0.0.1:8080 (rev 12)", WatchCommand.Text(Line(MembershipChangeKind.Snapshot, instance, 12)));
        Assert.Equal("+ user 127.0.0.1:8080 (rev 12)", WatchCommand.Text(Line(MembershipChangeKind.Up, instance, 12)));
        Assert.Equal("- user a1 at 10.0.0.1:80 (rev 13)", WatchCommand.Text(Line(MembershipChangeKind.Down, named, 13)));
        Assert.Equal("~ user a1 at 10.0.0.2:80 (rev 14): address 10.0.0.1:80 -> 10.0.0.2:80, weight 1 -> 2, metadata - -> zone=b",
            WatchCommand.Text(new MembershipChange(MembershipChangeKind.Update, named with { Address = "10.0.0.2:80", Weight = 2, Metadata = Zone("b") }, 14, named)));
    }

    [Fact]
    public void A_readable_line_shows_control_characters_and_backslashes_in_a_value_as_escapes()
    {
        var named = CliTestData.Instance("user", "a1", "10.0.0.1:80");

        var line = WatchCommand.Text(new MembershipChange(MembershipChangeKind.Update, named with { Metadata = Zone("b\n+ user fake 10.6.6.6:80\u0000\u2028 \\n") }, 14, named));

        Assert.Equal(@"~ user a1 at 10.0.0.1:80 (rev 14): metadata - -> zone=b\n+ user fake 10.6.6.6:80\u0000\u2028 \\n", line);
    }

    private static MembershipSnapshot Snapshot(long revision, params ServiceInstance[] instances) =>
        new("user", [.. instances.OrderBy(i => i.Id, StringComparer.Ordinal)], revision, Stale: false);

    private static MembershipChange Line(MembershipChangeKind kind, ServiceInstance instance, long revision) => new(kind, instance, revision);

    private static ImmutableSortedDictionary<string, string> Zone(string zone) =>
        ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal).Add("zone", zone);
}
