using System.Globalization;
using System.Text;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// Text from the outside (a record's values, a rules file's content) made safe to log: control characters are
/// escaped, so a value holding a newline cannot forge a log line or a terminal escape sequence.
/// </summary>
internal static class LogText
{
    /// <summary>
    /// <paramref name="text"/> with a newline, carriage return and tab written <c>\n</c>, <c>\r</c>, <c>\t</c>, and every
    /// other control character (and U+2028, U+2029) as <c>\uXXXX</c>; the text itself when it has none.
    /// </summary>
    public static string Escape(string? text)
    {
        if (string.IsNullOrEmpty(text))
        {
            return text ?? "";
        }

        var first = IndexOfEscaped(text);
        if (first < 0)
        {
            return text;
        }

        var escaped = new StringBuilder(text.Length + 16).Append(text, 0, first);
        for (var i = first; i < text.Length; i++)
        {
            var c = text[i];
            _ = c switch
            {
                '\n' => escaped.Append("\\n"),
                '\r' => escaped.Append("\\r"),
                '\t' => escaped.Append("\\t"),
                _ when IsEscaped(c) => escaped.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => escaped.Append(c),
            };
        }

        return escaped.ToString();
    }

    private static int IndexOfEscaped(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            if (IsEscaped(text[i]))
            {
                return i;
            }
        }

        return -1;
    }

    // C0 and C1 controls, DEL, and the line and paragraph separators some viewers break lines at.
    private static bool IsEscaped(char c) => char.IsControl(c) || c is '\u2028' or '\u2029';
}
