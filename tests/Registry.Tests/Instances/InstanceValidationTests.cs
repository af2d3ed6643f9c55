using System.Collections.Immutable;

namespace Registry.Tests.Instances;

public sealed class InstanceValidationTests
{
    [Theory]
    [InlineData("user")]
    [InlineData("a.b_c-D9")]
    public void Accepts_valid_service_names(string service) => Assert.Null(InstanceValidation.CheckService(service));

    [Theory]
    [InlineData("")]
    [InlineData("has space")]
    [InlineData("slash/name")]
    [InlineData("ü")]
    public void Rejects_bad_service_names_naming_the_field(string service) =>
        Assert.StartsWith($"service '{service}'", InstanceValidation.CheckService(service));

    [Fact]
    public void Rejects_a_service_name_longer_than_128() =>
        Assert.NotNull(InstanceValidation.CheckService(new string('a', 129)));

    [Theory]
    [InlineData("127.0.0.1:8080")]
    [InlineData("localhost:1")]
    [InlineData("[::1]:65535")]
    [InlineData("svc.example.org:443")]
    public void Accepts_host_port_addresses_a_channel_can_connect_to(string address)
    {
        Assert.Null(InstanceValidation.CheckAddress(address));
        Assert.NotNull(ResolverActor.ToBalancerAddress(address));
    }

    [Theory]
    [InlineData("notanaddress")]
    [InlineData("host:")]
    [InlineData(":80")]
    [InlineData("host:0")]
    [InlineData("host:65536")]
    [InlineData("host:-1")]
    [InlineData("::1:80")]
    [InlineData("ho st:80")]
    [InlineData("[]:80")]
    public void Rejects_bad_addresses_saying_what_is_expected(string address) =>
        Assert.Equal($"address '{address}': expected host:port with port 1-65535", InstanceValidation.CheckAddress(address));

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, true)]
    [InlineData(3600, true)]
    [InlineData(3601, false)]
    [InlineData(0, false)]
    public void Ttl_must_be_2_to_3600_seconds(long ttl, bool valid) => Assert.Equal(valid, InstanceValidation.CheckTtl(ttl) is null);

    [Fact]
    public void Weight_must_be_positive()
    {
        Assert.Null(InstanceValidation.CheckWeight(1));
        Assert.Equal("weight 0: expected a positive integer", InstanceValidation.CheckWeight(0));
    }

    [Fact]
    public void Metadata_is_limited_in_entries_and_value_size()
    {
        var many = Enumerable.Range(0, 65).ToImmutableSortedDictionary(i => $"k{i}", i => "v", StringComparer.Ordinal);
        var tooMany = ServiceInstance.Create("user", "127.0.0.1:1") with { Metadata = many };
        Assert.Contains(InstanceValidation.Check(tooMany), p => p.StartsWith("metadata: 65 entries"));

        var big = ServiceInstance.Create("user", "127.0.0.1:1") with
        {
            Metadata = ServiceInstance.EmptyMetadata.Add("blob", new string('x', 1025)),
        };
        Assert.Contains(InstanceValidation.Check(big), p => p.StartsWith("metadata 'blob': value longer than 1024 bytes"));
    }

    [Fact]
    public void The_encoded_value_is_limited_to_16_KiB()
    {
        var metadata = Enumerable.Range(0, 20).ToImmutableSortedDictionary(i => $"k{i}", _ => new string('x', 1000), StringComparer.Ordinal);
        var instance = ServiceInstance.Create("user", "127.0.0.1:1") with { Metadata = metadata };
        Assert.Contains(InstanceValidation.Check(instance), p => p.StartsWith("instance: encoded value is"));
    }

    [Fact]
    public void Reports_every_problem_at_once()
    {
        var instance = new ServiceInstance("bad name", "", "nope", ServiceInstance.EmptyMetadata, 0, null, DateTimeOffset.UtcNow);
        Assert.Equal(4, InstanceValidation.Check(instance).Count);
    }
}
