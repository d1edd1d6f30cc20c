using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// Recognises the before image Debezium sends for a delete under <c>REPLICA IDENTITY DEFAULT</c>: Postgres sends only
/// the key columns of the old row, and Debezium fills every other NOT NULL column with a type default (<c>0</c>,
/// <c>""</c>, <c>false</c>, the epoch) and the nullable ones with null. Without <c>replicaIdentity: default</c> in the
/// rule those placeholders render keys the row never had (<c>team:0</c>), silently.
/// </summary>
/// <remarks>
/// A real row can look the same (every non-key column at its type's zero), so a match is reported as suspect, never
/// acted on: the rule decides. A before image with one value that is not a type default never matches.
/// </remarks>
public static class DefaultIdentityShape
{
    /// <summary>
    /// True when <paramref name="before"/> has every column of <paramref name="key"/> with a value, at least one other
    /// column, and nothing but type defaults in its other columns.
    /// </summary>
    public static bool Matches(RowImage before, RowImage key)
    {
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(key);
        if (key.Count == 0 || before.Count <= key.Count)
        {
            return false;
        }

        foreach (var column in key.ColumnNames)
        {
            if (!before.TryGet(column, out var value) || !value.IsPresent)
            {
                return false;
            }
        }

        foreach (var (column, value) in before.Columns)
        {
            if (!key.Contains(column) && !IsTypeDefault(value))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>Null, or the text of a type's zero: <c>""</c>, <c>false</c>, a zero number, the epoch or midnight.</summary>
    public static bool IsTypeDefault(ColumnValue value) => value.Kind switch
    {
        ColumnValueKind.Null => true,
        ColumnValueKind.Present => IsDefaultText(value.Text),
        _ => false, // unavailable, untrusted or undecodable: not a value Debezium filled in
    };

    internal static bool IsDefaultText(ReadOnlySpan<char> text) =>
        text.IsEmpty || text.SequenceEqual("false") || IsZeroNumber(text) || IsEpoch(text);

    /// <summary>
    /// The worker's one-pass path asks this before it plans a delete of a watched table: false only when the raw before
    /// image cannot match (more values that are surely no type default than the key has columns), so that every delete
    /// that may match is decoded whole and checked with <see cref="Matches"/>.
    /// </summary>
    internal static bool MayMatch(ReadOnlySpan<byte> json, JsonSegment before, int keyColumns, DecimalColumns? decimals, NameCache names)
    {
        if (keyColumns <= 0 || !before.IsObject)
        {
            return false;
        }

        var reader = before.Open(json);
        var notDefault = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            // A schema decimal's base64 formats to a number only the full read knows: it counts as maybe zero.
            var maybeDecimal = decimals is not null
                && (reader.ValueIsEscaped || names.Get(reader.ValueSpan) is not { } name || decimals.TryGetScale(RowScope.Before, name, out _));
            reader.Read();
            var surelyNotDefault = reader.TokenType switch
            {
                JsonTokenType.True or JsonTokenType.StartArray => true,
                JsonTokenType.Number => !IsDefaultUtf8(reader.ValueSpan),
                JsonTokenType.String => !maybeDecimal && !reader.ValueIsEscaped && !IsDefaultUtf8(reader.ValueSpan),
                _ => false, // null, false, and objects (a variable-scale decimal may be zero)
            };
            reader.Skip();
            if (surelyNotDefault && ++notDefault > keyColumns)
            {
                return false;
            }
        }

        return true;
    }

    private static bool IsDefaultUtf8(ReadOnlySpan<byte> utf8)
    {
        if (utf8.Length > 64)
        {
            return false; // longer than any zero, epoch or midnight text
        }

        Span<char> chars = stackalloc char[64];
        for (var i = 0; i < utf8.Length; i++)
        {
            if (utf8[i] >= 0x80)
            {
                return false; // the texts below are ASCII
            }

            chars[i] = (char)utf8[i];
        }

        return IsDefaultText(chars[..utf8.Length]);
    }

    /// <summary>A number whose digits are all zero: <c>0</c>, <c>-0</c>, <c>0.00</c>, <c>0E-2</c>.</summary>
    private static bool IsZeroNumber(ReadOnlySpan<char> text)
    {
        var i = text.Length > 0 && text[0] is '-' or '+' ? 1 : 0;
        var digits = 0;
        for (; i < text.Length; i++)
        {
            switch (text[i])
            {
                case '0':
                    digits++;
                    break;
                case '.':
                    break;
                case 'e' or 'E':
                    var exponent = text[(i + 1)..];
                    exponent = exponent.Length > 0 && exponent[0] is '-' or '+' ? exponent[1..] : exponent;
                    return digits > 0 && exponent.Length > 0 && !exponent.ContainsAnyExceptInRange('0', '9');
                default:
                    return false;
            }
        }

        return digits > 0;
    }

    /// <summary>
    /// The epoch as a date or timestamp (<c>1970-01-01</c>, <c>1970-01-01T00:00:00Z</c>, <c>1970-01-01 00:00:00.000</c>)
    /// or midnight (<c>00:00:00</c>, <c>00:00:00Z</c>): how Debezium's string time types write their zero.
    /// </summary>
    private static bool IsEpoch(ReadOnlySpan<char> text)
    {
        if (text.StartsWith("1970-01-01", StringComparison.Ordinal))
        {
            text = text[10..];
            if (text.IsEmpty)
            {
                return true;
            }

            if (text[0] is not ('T' or ' '))
            {
                return false;
            }

            text = text[1..];
        }

        // What remains is midnight: zeros, colons, a fraction, and an optional UTC zone.
        return text.Length >= 5 && text[2] == ':' && !text.ContainsAnyExcept("0:.Z+") && text.Count('0') >= 4;
    }
}
