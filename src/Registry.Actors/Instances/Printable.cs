using System.Globalization;
using System.Text;

namespace Registry;

/// <summary>Text written by any process (in etcd, on a command line) as one line of messages, logs and tables.</summary>
internal static class Printable
{
    /// <summary>
    /// <paramref name="text"/> safe for one line of plain text: a newline, tab, NUL, line separator, other control or
    /// format character, or an unpaired surrogate could otherwise break a line, forge one (a fake row of <c>list</c>'s
    /// table, a fake log line) or not print at all. Each is written as a C escape (<c>\n</c>, <c>\u2028</c>; a non-UTF-8
    /// byte of an etcd key reads as U+DC00 + the byte, so <c>\udcff</c> is the byte 0xFF), and a backslash as <c>\\</c>,
    /// so that text holding the two characters <c>\n</c> reads apart from text holding a newline. Null reads as empty.
    /// </summary>
    public static string Escape(string? text)
    {
        if (text is null) return "";
        StringBuilder? builder = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var paired = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (paired || !NeedsEscape(c))
            {
                builder?.Append(text, i, paired ? 2 : 1);
                if (paired) i++;
                continue;
            }
            builder ??= new StringBuilder(text.Length + 8).Append(text, 0, i);
            builder.Append(c switch
            {
                '\n' => @"\n",
                '\r' => @"\r",
                '\t' => @"\t",
                '\\' => @"\\",
                _ => string.Create(CultureInfo.InvariantCulture, $@"\u{(int)c:x4}"),
            });
        }
        return builder?.ToString() ?? text;
    }

    /// <summary>Longest text, in UTF-16 characters, that <see cref="Excerpt"/> quotes whole.</summary>
    public const int ExcerptLength = 300;

    /// <summary>
    /// <paramref name="text"/> escaped as <see cref="Escape"/> does, for a message that quotes it: text longer than
    /// <see cref="ExcerptLength"/> (a value in etcd may be megabytes) is cut there and its length said, so a bad value
    /// costs one line of bounded size in every log that reports it.
    /// </summary>
    public static string Excerpt(string? text)
    {
        if (text is null || text.Length <= ExcerptLength) return Escape(text);
        // Never half a pair; an unpaired surrogate, often why the text was refused, is kept.
        var cut = char.IsHighSurrogate(text[ExcerptLength - 1]) && char.IsLowSurrogate(text[ExcerptLength]) ? ExcerptLength - 1 : ExcerptLength;
        return string.Create(CultureInfo.InvariantCulture, $"{Escape(text[..cut])}… ({text.Length:N0} characters)");
    }

    /// <summary>
    /// True for a control or format character (U+200B, U+202E) or a line or paragraph separator: text that breaks a line
    /// or shows other than it reads.
    /// </summary>
    public static bool IsControlOrFormat(char c) =>
        char.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;

    private static bool NeedsEscape(char c) => c == '\\' || char.IsSurrogate(c) || IsControlOrFormat(c);
}
