using System.Globalization;
using System.Text;

namespace Registry;

/// <summary>Text from outside (etcd, a caller) as messages and logs show it.</summary>
internal static class Printable
{
    /// <summary>
    /// <paramref name="text"/> with control characters and unpaired surrogates written as escapes (<c>\n</c>,
    /// <c>\u001B</c>, <c>\uDCFF</c>), so a message stays on one line and shows what the text holds. A non-UTF-8 byte of
    /// an etcd key reads as U+DC00 + the byte, so <c>\uDCFF</c> is the byte 0xFF. Other text, backslashes included, is
    /// left as it is: the result is for reading, not for parsing back.
    /// </summary>
    public static string Escape(string? text)
    {
        if (text is null) return "";
        var builder = (StringBuilder?)null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            var paired = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            if (!char.IsControl(c) && (!char.IsSurrogate(c) || paired))
            {
                builder?.Append(c);
                if (paired)
                {
                    builder?.Append(text[i + 1]);
                    i++;
                }
                continue;
            }
            builder ??= new StringBuilder(text.Length + 8).Append(text, 0, i);
            builder.Append(c switch
            {
                '\n' => @"\n",
                '\r' => @"\r",
                '\t' => @"\t",
                _ => string.Create(CultureInfo.InvariantCulture, $@"\u{(int)c:X4}"),
            });
        }
        return builder?.ToString() ?? text;
    }
}
