using System.Text;
using System.Text.Json;

namespace Registry.Tests.Instances;

public sealed class InstanceCodecTests
{
    private static readonly ServiceInstance Sample = new(
        "user", "127.0.0.1:8080", "127.0.0.1:8080",
        ServiceInstance.EmptyMetadata.Add("zone", "a"), 3, "1.2.0",
        new DateTimeOffset(2026, 11, 26, 3, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Default_key_is_prefix_service_address() =>
        Assert.Equal("/services/user/127.0.0.1:8080", InstanceCodec.Key(InstanceCodec.DefaultPrefix, "user", "127.0.0.1:8080"));

    [Fact]
    public void Value_is_camel_case_json_with_the_design_fields()
    {
        using var json = JsonDocument.Parse(InstanceCodec.Encode(Sample));
        var root = json.RootElement;
        Assert.Equal("user", root.GetProperty("service").GetString());
        Assert.Equal("127.0.0.1:8080", root.GetProperty("id").GetString());
        Assert.Equal("127.0.0.1:8080", root.GetProperty("address").GetString());
        Assert.Equal("a", root.GetProperty("metadata").GetProperty("zone").GetString());
        Assert.Equal(3, root.GetProperty("weight").GetInt32());
        Assert.Equal("1.2.0", root.GetProperty("version").GetString());
        Assert.Equal("2026-11-26T03:00:00+00:00", root.GetProperty("registeredAt").GetString());
    }

    [Fact]
    public void Round_trips() => Assert.Equal(Sample, InstanceCodec.Decode(InstanceCodec.Encode(Sample)));

    [Fact]
    public void Ignores_unknown_fields_and_defaults_weight_to_1()
    {
        var decoded = InstanceCodec.Decode("""{"service":"user","id":"a","address":"h:1","extra":{"x":1}}"""u8);
        Assert.Equal(1, decoded.Weight);
        Assert.Empty(decoded.Metadata);
    }

    [Fact]
    public void A_large_value_is_measured_as_it_encodes_not_as_it_is_stored()
    {
        var padded = $$"""{"service":"user","id":"a","address":"h:1","extra":"{{new string('x', 20_000)}}"}""";
        Assert.Equal("a", InstanceCodec.Decode(Encoding.UTF8.GetBytes(padded)).Id);

        var metadata = string.Join(",", Enumerable.Range(0, 20).Select(i => $"\"k{i}\":\"{new string('x', 1_000)}\""));
        var big = """{"service":"user","id":"a","address":"h:1","metadata":{""" + metadata + "}}";
        Assert.Contains("encoded value is", Assert.Throws<FormatException>(() => InstanceCodec.Decode(Encoding.UTF8.GetBytes(big))).Message);
    }

    [Theory]
    [InlineData("""{"service":"user","id":"a","address":"h:1","weight":null,"version":null,"metadata":null,"registeredAt":null}""", 1)]
    [InlineData(""" {"weight":7,"service":"user","id":"a","address":"h:1","other":[{"a":[1,2]},null],"other":1} """, 7)]
    public void Reads_nulls_and_unknown_values_as_the_serializer_did(string value, int weight)
    {
        var decoded = InstanceCodec.Decode(Encoding.UTF8.GetBytes(value));
        Assert.Equal(("user", weight), (decoded.Service, decoded.Weight));
        Assert.Empty(decoded.Metadata);
    }

    [Theory]
    [InlineData("not json", "not valid instance JSON")]
    [InlineData("", "not valid instance JSON")]
    [InlineData("""{"service":"user","id":"a","address":"h:1"} {}""", "not valid instance JSON")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","weight":"2"}""", "not valid instance JSON at 'weight': ")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","weight":1.5}""", "not valid instance JSON at 'weight': ")]
    [InlineData("""{"service":7,"id":"a","address":"h:1"}""", "not valid instance JSON at 'service': ")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","metadata":[]}""", "not valid instance JSON at 'metadata': expected an object")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","metadata":{"zone":"a","k":1}}""", "not valid instance JSON at metadata 'k': ")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","metadata":{"k":null}}""", "metadata 'k': null value")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","registeredAt":"yesterday"}""", "not valid instance JSON at 'registeredAt': ")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","extra":[1,}""", "not valid instance JSON: ")]
    [InlineData("""{"service":"user","id":"a", junk}""", "not valid instance JSON: ")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","metadata":{"a":"b"} junk}""", "not valid instance JSON: ")]
    [InlineData("""{"service":"x","service":"user","id":"a","address":"h:1"}""", "not valid instance JSON at 'service': given twice")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","weight":2,"weight":null}""", "not valid instance JSON at 'weight': given twice")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","metadata":{"k":"1","k":"2"}}""", "not valid instance JSON at metadata 'k': given twice")]
    [InlineData("null", "JSON null")]
    [InlineData("""{"id":"a","address":"h:1"}""", "no 'service'")]
    [InlineData("""{"service":"user","id":"a","address":"nope"}""", "address 'nope'")]
    [InlineData("""{"service":"user","id":"a","address":"api..example.com:8080"}""", "address 'api..example.com:8080'")]
    [InlineData("""{"service":"user","id":"a","address":"h:1","weight":0}""", "weight 0")]
    [InlineData("""[1,2]""", "not valid instance JSON")]
    public void Rejects_garbage_naming_what_is_wrong(string value, string expected)
    {
        var error = Assert.Throws<FormatException>(() => InstanceCodec.Decode(Encoding.UTF8.GetBytes(value)));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Text_that_has_no_utf16_form_is_refused_naming_where_it_is()
    {
        // A lone surrogate escaped in JSON, and a byte that is not UTF-8 (etcd stores any bytes).
        var escaped = """{"service":"user","id":"a","address":"h:1","metadata":{"k":"v\udcff"}}""";
        Assert.Contains("at metadata 'k': ", DecodeError(Encoding.UTF8.GetBytes(escaped)));
        Assert.Contains("at 'metadata': ", DecodeError(Encoding.UTF8.GetBytes("""{"service":"user","id":"a","address":"h:1","metadata":{"k\udcff":"v"}}""")));
        Assert.Contains("at 'address'", DecodeError(Encoding.UTF8.GetBytes("""{"service":"user","id":"a","address":"h\ud800:1"}""")));

        var raw = Encoding.UTF8.GetBytes("""{"service":"user","id":"aX","address":"h:1"}""");
        raw[Array.IndexOf(raw, (byte)'X')] = 0xFF;
        Assert.Contains("not valid instance JSON at 'id': ", DecodeError(raw));
    }

    [Fact]
    public void A_huge_bad_value_is_refused_with_a_message_of_bounded_size()
    {
        // Each watcher logs a skipped value once: a megabyte of bad field must not become a megabyte of log line.
        var service = new string('y', 1_400_000);
        var message = DecodeError(Encoding.UTF8.GetBytes($$"""{"service":"{{service}}","id":"a","address":"h:1"}"""));
        Assert.StartsWith($"service '{new string('y', Printable.ExcerptLength)}… (1,400,000 characters)': expected", message);

        var entries = string.Join(",", Enumerable.Range(0, 60_000).Select(i => $"\"k{i}\":null"));
        message = DecodeError(Encoding.UTF8.GetBytes("""{"service":"user","id":"a","address":"h:1","metadata":{""" + entries + "}}"));
        Assert.Equal($"metadata: 60000 entries, at most {InstanceValidation.MaxMetadataEntries} allowed", message);

        // 64 entries with long keys, each refused: five named, the rest counted.
        var longKeys = string.Join(",", Enumerable.Range(0, 64).Select(i => $"\"{i:d2}{new string('k', 1_000)}\":null"));
        message = DecodeError(Encoding.UTF8.GetBytes("""{"service":"user","id":"a","address":"h:1","metadata":{""" + longKeys + "}}"));
        Assert.Equal(6, message.Split("; ").Length);
        Assert.EndsWith("; metadata: 59 more entries with problems", message);
    }

    private static string DecodeError(byte[] value) => Assert.Throws<FormatException>(() => InstanceCodec.Decode(value)).Message;
}
