namespace Registry.Tests.Instances;

public sealed class PrintableTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "")]
    [InlineData(null, "")]
    [InlineData("a\\b 'q' ü 😀", "a\\b 'q' ü 😀")]
    [InlineData("a\nb\rc\td", @"a\nb\rc\td")]
    [InlineData("\u001B[31m\u0000\u007F\u0085", @"\u001B[31m\u0000\u007F\u0085")]
    public void Escapes_control_characters_only(string? text, string shown) => Assert.Equal(shown, Printable.Escape(text));

    [Fact]
    public void Escapes_unpaired_surrogates()
    {
        // In code, not attributes: an attribute's strings are stored as UTF-8, which has no unpaired surrogate.
        Assert.Equal(@"a\uDCFF", Printable.Escape("a\uDCFF"));
        Assert.Equal(@"\uD800x\uDE00", Printable.Escape("\uD800x\uDE00"));
        Assert.Equal(@"\uDE00\uD83D", Printable.Escape("\uDE00\uD83D"));
        Assert.Equal(@"\uD83D" + "\uD83D\uDE00", Printable.Escape("\uD83D\uD83D\uDE00"));
    }

    [Fact]
    public void Text_with_nothing_to_escape_is_returned_as_it_is()
    {
        var text = "user-1";
        Assert.Same(text, Printable.Escape(text));
    }
}
