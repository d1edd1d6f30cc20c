using System.Text;

namespace Invalidator.Core.Coverage;

/// <summary>
/// The shape of a cache key: the key with its variable parts folded, so that <c>session:17</c> and
/// <c>session:9001</c> are counted together as <c>session:{#}</c>. Uuids fold to <c>{uuid}</c>, runs of 16 or more
/// hex digits that contain a digit (hashes, tokens) to <c>{hex}</c>, and every other run of ASCII digits to
/// <c>{#}</c>. The markers read like template placeholders, because that is what a rule would need there.
/// </summary>
public static class KeyShape
{
    public const string Digits = "{#}";
    public const string Uuid = "{uuid}";
    public const string Hex = "{hex}";

    private const int UuidLength = 36;
    private const int MinimumHexRun = 16;

    public static string Of(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        StringBuilder? shape = null;
        var copied = 0;
        var i = 0;
        while (i < key.Length)
        {
            var (length, marker) = VariablePartAt(key, i);
            if (length == 0)
            {
                i++;
                continue;
            }

            shape ??= new StringBuilder(key.Length);
            shape.Append(key, copied, i - copied).Append(marker);
            i += length;
            copied = i;
        }

        return shape is null ? key : shape.Append(key, copied, key.Length - copied).ToString();
    }

    /// <summary>The length and marker of the variable part that starts at <paramref name="i"/>, or 0 when none does.</summary>
    private static (int Length, string Marker) VariablePartAt(string key, int i)
    {
        var startsWord = i == 0 || !char.IsAsciiLetterOrDigit(key[i - 1]);
        if (startsWord && char.IsAsciiHexDigit(key[i]))
        {
            if (IsUuidAt(key, i))
            {
                return (UuidLength, Uuid);
            }

            var end = i;
            var digits = false;
            while (end < key.Length && char.IsAsciiHexDigit(key[end]))
            {
                digits |= char.IsAsciiDigit(key[end]);
                end++;
            }

            if (end - i >= MinimumHexRun && digits && (end == key.Length || !char.IsAsciiLetterOrDigit(key[end])))
            {
                return (end - i, Hex);
            }
        }

        if (char.IsAsciiDigit(key[i]))
        {
            var end = i;
            while (end < key.Length && char.IsAsciiDigit(key[end]))
            {
                end++;
            }

            return (end - i, Digits);
        }

        return (0, "");
    }

    // 8-4-4-4-12 hex digits, not glued to more letters or digits on either side.
    private static bool IsUuidAt(string key, int i)
    {
        if (key.Length - i < UuidLength || (i + UuidLength < key.Length && char.IsAsciiLetterOrDigit(key[i + UuidLength])))
        {
            return false;
        }

        for (var k = 0; k < UuidLength; k++)
        {
            var c = key[i + k];
            var ok = k is 8 or 13 or 18 or 23 ? c == '-' : char.IsAsciiHexDigit(c);
            if (!ok)
            {
                return false;
            }
        }

        return true;
    }
}
