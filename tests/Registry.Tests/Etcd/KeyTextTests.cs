using System.Text;
using Registry.Etcd;

namespace Registry.Tests.Etcd;

public sealed class KeyTextTests
{
    [Fact]
    public void A_valid_key_reads_as_its_text()
    {
        var key = "/services/user/10.0.0.1:80-é€😀";
        Assert.Equal(key, EtcdStore.KeyText(Encoding.UTF8.GetBytes(key)));
    }

    [Fact]
    public void Keys_that_are_not_utf8_stay_apart_and_match_no_valid_key()
    {
        var ff = EtcdStore.KeyText(Bytes("/services/user/a", 0xFF));
        var fe = EtcdStore.KeyText(Bytes("/services/user/a", 0xFE));
        // A three-byte character cut short, then a valid one.
        var cut = EtcdStore.KeyText(Bytes("/services/user/a", 0xE2, 0x82, (byte)'b'));

        Assert.Equal("/services/user/a\uDCFF", ff);
        Assert.Equal("/services/user/a\uDCFE", fe);
        Assert.Equal("/services/user/a\uDCE2\uDC82b", cut);
        // Decoded with replacement characters, both were the key of an instance whose id ends in U+FFFD.
        Assert.NotEqual("/services/user/a\uFFFD", ff);
    }

    private static byte[] Bytes(string ascii, params byte[] tail) => [.. Encoding.ASCII.GetBytes(ascii), .. tail];
}
