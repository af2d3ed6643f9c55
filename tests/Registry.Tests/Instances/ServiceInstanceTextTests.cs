using System.Collections.Immutable;

namespace Registry.Tests.Instances;

/// <summary>What an instance and a snapshot say when logged or printed.</summary>
public sealed class ServiceInstanceTextTests
{
    private static readonly DateTimeOffset At = new(2026, 11, 27, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void An_instance_shows_its_metadata_pairs()
    {
        var instance = ServiceInstance.Create("user", "10.0.0.1:80", "a") with
        {
            Metadata = ServiceInstance.EmptyMetadata.Add("zone", "eu-1").Add("az", "b"),
            Weight = 2,
            Version = "1.4",
            RegisteredAt = At,
        };

        Assert.Equal(
            "ServiceInstance { Service = user, Id = a, Address = 10.0.0.1:80, Metadata = { az = b, zone = eu-1 }, Weight = 2, Version = 1.4, RegisteredAt = 2026-11-27T12:00:00.0000000+00:00 }",
            instance.ToString());
        Assert.Contains("Metadata = { }, Weight = 1, Version = ,", (instance with { Metadata = ServiceInstance.EmptyMetadata, Weight = 1, Version = null }).ToString());
        Assert.Contains("Metadata = null,", (instance with { Metadata = null! }).ToString());
    }

    [Fact]
    public void A_snapshot_shows_its_instances_ids()
    {
        var snapshot = new MembershipSnapshot("user", [ServiceInstance.Create("user", "10.0.0.1:80", "a"), ServiceInstance.Create("user", "10.0.0.2:80", "b")], 7, false);

        Assert.Equal("MembershipSnapshot { Service = user, Instances = [a, b], Revision = 7, Stale = False }", snapshot.ToString());
        Assert.Equal("MembershipSnapshot { Service = user, Instances = [], Revision = 0, Stale = True }",
            new MembershipSnapshot("user", ImmutableArray<ServiceInstance>.Empty, 0, true).ToString());
    }
}
