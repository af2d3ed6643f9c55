using System.Collections.Immutable;
using System.Net;

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
    public void Control_characters_in_refused_text_are_shown_as_escapes_so_a_message_stays_one_line()
    {
        Assert.Equal(@"service 'user\n': expected 1-128 characters of letters, digits, '.', '_' or '-'", InstanceValidation.CheckService("user\n"));
        Assert.Equal(@"id 'a\r\nWARN forged\u001b[0m': expected 1-256 characters without '/', control or format characters, line separators, unpaired surrogates or white space at either end",
            InstanceValidation.CheckId("a\r\nWARN forged\u001B[0m"));
        Assert.Equal(@"address 'a\tb:80': expected host:port with a DNS name, a dotted IPv4 address or a bracketed IPv6 address without zone as host",
            InstanceValidation.CheckAddress("a\tb:80"));
        Assert.Equal(@"'/s\n/': expected one or more segments, none empty, without spaces, control or format characters or unpaired surrogates (such as /services/)",
            InstanceValidation.CheckPrefix("/s\n/"));
    }

    [Fact]
    public void An_id_or_prefix_that_would_show_as_other_text_is_refused()
    {
        // A zero-width space (an id that looks like another), a right-to-left override, a line separator.
        Assert.Equal(@"id '127.0.0.1:8080\u200b': expected 1-256 characters without '/', control or format characters, line separators, unpaired surrogates or white space at either end",
            InstanceValidation.CheckId("127.0.0.1:8080\u200B"));
        Assert.NotNull(InstanceValidation.CheckId("a\u202Eb"));
        Assert.NotNull(InstanceValidation.CheckId("a\u2028b"));
        Assert.NotNull(InstanceValidation.CheckPrefix("/s\u200B/"));
        // White space at either end: `a ` shows as `a` in a table.
        Assert.NotNull(InstanceValidation.CheckId("a "));
        Assert.NotNull(InstanceValidation.CheckId(" a"));
        Assert.NotNull(InstanceValidation.CheckId("\u00A0a"));
        Assert.Null(InstanceValidation.CheckId("café 1"));
    }

    [Fact]
    public void Rejects_a_service_name_longer_than_128()
    {
        Assert.Null(InstanceValidation.CheckService(new string('a', 128)));
        Assert.Equal($"service '{new string('a', 129)}': expected 1-128 characters of letters, digits, '.', '_' or '-'",
            InstanceValidation.CheckService(new string('a', 129)));
    }

    [Theory]
    [InlineData("127.0.0.1:8080")]
    [InlineData("0.0.0.0:1")]
    [InlineData("localhost:1")]
    [InlineData("[::1]:65535")]
    [InlineData("[0:0:0:0:0:0:0:1]:80")]
    [InlineData("[::ffff:10.0.0.1]:80")]
    [InlineData("svc.example.org:443")]
    [InlineData("API.Example.ORG:443")]
    [InlineData("my_svc-2.local:8080")]
    [InlineData("123abc.internal:80")]
    [InlineData("xn--bcher-kva.example:80")]
    public void Accepts_host_port_addresses_a_channel_can_connect_to(string address)
    {
        Assert.Null(InstanceValidation.CheckAddress(address));
        AssertSameEndpointEverywhere(address);
    }

    [Theory]
    [InlineData("api..example.com:8080")]
    [InlineData(".example.com:80")]
    [InlineData("example.com.:80")]
    [InlineData("a|b:80")]
    [InlineData("a%zz:80")]
    [InlineData("host#x:8080")]
    [InlineData("a@b:80")]
    [InlineData("a?b:80")]
    [InlineData("a\\b:80")]
    [InlineData("-a:80")]
    [InlineData("a-:80")]
    [InlineData("_a.example:80")]
    [InlineData("1._a:80")]
    [InlineData("bücher.example:80")]
    [InlineData("ho st:80")]
    [InlineData("[]:80")]
    [InlineData("[fe80::1%eth0]:80")]
    [InlineData("[example.com]:80")]
    [InlineData("[1.2.3.4]:80")]
    [InlineData("1.2.3:80")]
    [InlineData("010.0.0.1:80")]
    [InlineData("256.0.0.1:80")]
    [InlineData("0x7f.0.0.1:80")]
    [InlineData("example.123:80")]
    [InlineData("1.0x7f:80")]
    public void Rejects_addresses_whose_host_is_no_dns_name_or_ip_address(string address) =>
        Assert.Equal(
            $"address '{address.Replace(@"\", @"\\")}': expected host:port with a DNS name, a dotted IPv4 address or a bracketed IPv6 address without zone as host",
            InstanceValidation.CheckAddress(address));

    [Fact]
    public void Every_address_accepted_is_the_same_endpoint_as_a_uri_and_as_a_balancer_address()
    {
        // Hosts drawn from characters URIs treat specially, with a fixed seed: any accepted one must round-trip.
        const string alphabet = "ab0179x.-_:[]%#@?/\\|!$&'()*+,;=~ü";
        var random = new Random(20261126);
        var accepted = 0;
        for (var i = 0; i < 200_000; i++)
        {
            var host = new string(Enumerable.Range(0, random.Next(1, 9)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var address = $"{host}:{random.Next(1, 65536)}";
            if (InstanceValidation.CheckAddress(address) is not null) continue;
            accepted++;
            AssertSameEndpointEverywhere(address);
        }
        Assert.True(accepted > 1000, $"only {accepted} generated addresses were valid: the draw tests too little");
    }

    /// <summary>
    /// The host and port of <paramref name="address"/> as the client's channel (a URI) and the resolver (a balancer
    /// address) read them: the same host (IP addresses compared as addresses, names without case) and port.
    /// </summary>
    private static void AssertSameEndpointEverywhere(string address)
    {
        var colon = address.LastIndexOf(':');
        var host = address[..colon].Trim('[', ']');
        var port = int.Parse(address[(colon + 1)..], System.Globalization.CultureInfo.InvariantCulture);

        Assert.True(Uri.TryCreate($"http://{address}", UriKind.Absolute, out var uri), $"{address}: not a URI");
        Assert.Equal(port, uri.Port);
        AssertSameHost(host, uri.Host.Trim('[', ']'), address);

        var endpoint = Assert.IsType<DnsEndPoint>(ResolverActor.ToBalancerAddress(address).EndPoint);
        Assert.Equal(port, endpoint.Port);
        AssertSameHost(host, endpoint.Host, address);
    }

    private static void AssertSameHost(string expected, string actual, string address)
    {
        if (IPAddress.TryParse(expected, out var ip))
            Assert.True(IPAddress.TryParse(actual, out var other) && ip.Equals(other), $"{address}: host read as '{actual}'");
        else
            Assert.True(string.Equals(expected, actual, StringComparison.OrdinalIgnoreCase), $"{address}: host read as '{actual}'");
    }

    [Theory]
    [InlineData("notanaddress")]
    [InlineData("host:")]
    [InlineData(":80")]
    [InlineData("host:0")]
    [InlineData("host:65536")]
    [InlineData("host:-1")]
    [InlineData("::1:80")]
    public void Rejects_bad_addresses_saying_what_is_expected(string address) =>
        Assert.Equal($"address '{address}': expected host:port with port 1-65535", InstanceValidation.CheckAddress(address));

    [Theory]
    [InlineData("host:080")]
    [InlineData("10.0.0.1:05106")]
    [InlineData("[::1]:0443")]
    public void Rejects_a_port_with_leading_zeros_which_would_register_one_endpoint_under_two_ids(string address) =>
        Assert.Equal($"address '{address}': expected the port without leading zeros", InstanceValidation.CheckAddress(address));

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
    public void Text_with_an_unpaired_surrogate_is_refused_naming_where_as_it_has_no_utf8_form()
    {
        // Encoded, each would turn into U+FFFD: the ids "a\uDCFF" and "a\uDCFE" would share one key.
        Assert.Equal(@"id 'a\udcff': expected 1-256 characters without '/', control or format characters, line separators, unpaired surrogates or white space at either end",
            InstanceValidation.CheckId("a\uDCFF"));
        Assert.NotNull(InstanceValidation.CheckId("a\uD83D"));
        Assert.NotNull(InstanceValidation.CheckId("\uDE00a"));
        Assert.Null(InstanceValidation.CheckId("a\uD83D\uDE00"));
        Assert.NotNull(InstanceValidation.CheckPrefix("/s\uDCFF/"));

        var instance = ServiceInstance.Create("user", "127.0.0.1:1") with
        {
            Version = "1\uD800",
            Metadata = ServiceInstance.EmptyMetadata.Add("k\uDC00", "v").Add("zone", "eu\uDFFF").Add("ok", "\uD83D\uDE00"),
        };
        Assert.Equal(
            [@"version '1\ud800': has an unpaired surrogate", @"metadata 'k\udc00': key with an unpaired surrogate", "metadata 'zone': value with an unpaired surrogate"],
            InstanceValidation.Check(instance));
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
