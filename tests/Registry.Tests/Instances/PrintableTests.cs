namespace Registry.Tests.Instances;

public sealed class PrintableTests
{
    [Theory]
    [InlineData("plain", "plain")]
    [InlineData("", "")]
    [InlineData(null, "")]
    [InlineData("'q' ü 😀", "'q' ü 😀")]
    [InlineData("a\nb\rc\td", @"a\nb\rc\td")]
    [InlineData(@"a\nb", @"a\\nb")]
    [InlineData("\u001B[31m\u0000\u007F\u0085", @"\u001b[31m\u0000\u007f\u0085")]
    [InlineData("a\u2028b\u2029c\u200Bd\u202Ee", @"a\u2028b\u2029c\u200bd\u202ee")]
    public void Escapes_control_and_format_characters_separators_and_backslashes(string? text, string shown) =>
        Assert.Equal(shown, Printable.Escape(text));

    [Fact]
    public void Escapes_unpaired_surrogates()
    {
        // In code, not attributes: an attribute's strings are stored as UTF-8, which has no unpaired surrogate.
        Assert.Equal(@"a\udcff", Printable.Escape("a\uDCFF"));
        Assert.Equal(@"\ud800x\ude00", Printable.Escape("\uD800x\uDE00"));
        Assert.Equal(@"\ude00\ud83d", Printable.Escape("\uDE00\uD83D"));
        Assert.Equal(@"\ud83d" + "\uD83D\uDE00", Printable.Escape("\uD83D\uD83D\uDE00"));
    }

    [Fact]
    public void An_excerpt_quotes_text_up_to_its_length_whole_and_cuts_longer_text_saying_how_long_it_was()
    {
        var whole = new string('x', Printable.ExcerptLength - 1) + "\n";
        Assert.Equal(Printable.Escape(whole), Printable.Excerpt(whole));

        var cut = Printable.Excerpt(new string('y', 1_400_000));
        Assert.Equal(new string('y', Printable.ExcerptLength) + "… (1,400,000 characters)", cut);

        // Never half a surrogate pair; an unpaired one at the cut is kept, escaped.
        var emoji = new string('z', Printable.ExcerptLength - 1) + "😀tail";
        Assert.Equal(new string('z', Printable.ExcerptLength - 1) + $"… ({emoji.Length} characters)", Printable.Excerpt(emoji));
        var lone = new string('z', Printable.ExcerptLength - 1) + "\uD800tail";
        Assert.Equal(new string('z', Printable.ExcerptLength - 1) + $@"\ud800… ({lone.Length} characters)", Printable.Excerpt(lone));
    }

    [Fact]
    public void Text_with_nothing_to_escape_is_returned_as_it_is()
    {
        var text = "user-1";
        Assert.Same(text, Printable.Escape(text));
    }
}
