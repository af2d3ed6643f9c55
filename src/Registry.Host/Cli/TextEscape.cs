using System.Globalization;
using System.Text;

namespace Registry.Host.Cli;

/// <summary>
/// Makes a value written by any process safe for one line of plain text: a newline, tab, NUL, line separator or other
/// control or format character in metadata could otherwise start a fake row of <c>list</c>'s table or a fake line of
/// <c>watch</c>. Such characters are written as C escapes (<c>\n</c>, <c>\u2028</c>), and a backslash as <c>\\</c> so
/// that a value holding the two characters <c>\n</c> reads apart from one holding a newline; JSON output is escaped by
/// its writer and shows the value exactly.
/// </summary>
internal static class TextEscape
{
    public static string Of(string value)
    {
        if (!value.Any(NeedsEscape)) return value;
        var text = new StringBuilder(value.Length + 8);
        foreach (var c in value)
        {
            text.Append(c switch
            {
                '\n' => @"\n",
                '\r' => @"\r",
                '\t' => @"\t",
                '\\' => @"\\",
                _ when NeedsEscape(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return text.ToString();
    }

    private static bool NeedsEscape(char c) =>
        c == '\\' || char.GetUnicodeCategory(c) is UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator;
}
