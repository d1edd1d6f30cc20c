using System.Text;

namespace Invalidator.Core.Rules;

/// <summary>What a placeholder stands for when a key is matched against a template.</summary>
public enum PlaceholderMatching
{
    /// <summary>
    /// One or more characters, none of them a separator of the template itself (a character other than a letter or
    /// digit in its literal text, such as ':'): <c>customer:{id}</c> does not match <c>customer:7:orders</c>, the
    /// key of some other rule (or of none).
    /// </summary>
    WithinSegment,

    /// <summary>One or more characters of any kind, for values that hold the separators (URLs in <c>page:{url}</c>).</summary>
    Anything,
}

/// <summary>The reverse of rendering: could this template ever produce a given key?</summary>
public sealed partial class KeyTemplate
{
    private string? _separators;

    /// <summary>How many characters of literal text the template has: the more, the more specific it is.</summary>
    internal int LiteralLength => _literalLength;

    /// <summary>The characters other than letters and digits in the template's literal text, each once.</summary>
    private string Separators => _separators ??= new string(
        _segments.Where(s => s.Literal is not null).SelectMany(s => s.Literal!).Where(c => !char.IsLetterOrDigit(c)).Distinct().ToArray());

    /// <summary>
    /// True when some row could render <paramref name="key"/>: the literal text matches exactly and each
    /// placeholder stands for one or more characters its filters can produce (after <c>lower</c>, no upper-case
    /// letter; after <c>upper</c>, no lower-case one) and, by default, none of the template's own separators
    /// (<see cref="PlaceholderMatching"/>). A placeholder never matches the empty string: a key with a blank where
    /// a value belongs was built from a missing value, and the worker never renders one.
    /// </summary>
    public bool Matches(ReadOnlySpan<char> key, PlaceholderMatching placeholders = PlaceholderMatching.WithinSegment)
    {
        if (StaticValue is not null)
        {
            return key.SequenceEqual(StaticValue);
        }

        // Cheap rejections first: most keys fail on their first or last literal.
        if (key.Length < _literalLength + _placeholderCount
            || (_segments[^1].Literal is { } last && !key.EndsWith(last, StringComparison.Ordinal)))
        {
            return false;
        }

        return MatchFrom(0, key, placeholders == PlaceholderMatching.WithinSegment ? Separators : "");
    }

    /// <inheritdoc cref="Matches(ReadOnlySpan{char}, PlaceholderMatching)"/>
    public bool Matches(string key, PlaceholderMatching placeholders = PlaceholderMatching.WithinSegment)
    {
        ArgumentNullException.ThrowIfNull(key);
        return Matches(key.AsSpan(), placeholders);
    }

    private bool MatchFrom(int index, ReadOnlySpan<char> rest, string stops)
    {
        if (index == _segments.Length)
        {
            return rest.IsEmpty;
        }

        var segment = _segments[index];
        if (segment.Literal is { } literal)
        {
            return rest.StartsWith(literal, StringComparison.Ordinal) && MatchFrom(index + 1, rest[literal.Length..], stops);
        }

        // The longest start of rest that this placeholder could have produced; its value ends somewhere in it.
        var reach = ProducibleLength(rest, segment.Filters, stops);
        if (index + 1 == _segments.Length)
        {
            return reach == rest.Length && reach > 0;
        }

        if (_segments[index + 1].Literal is { } next)
        {
            // The value ends where an occurrence of the next literal begins: try each one within reach.
            var from = 1;
            while (from <= reach)
            {
                var found = rest[from..].IndexOf(next, StringComparison.Ordinal);
                if (found < 0 || from + found > reach)
                {
                    return false;
                }

                if (MatchFrom(index + 1, rest[(from + found)..], stops))
                {
                    return true;
                }

                from += found + 1;
            }

            return false;
        }

        // Two placeholders side by side ({a}{b}): any split point.
        for (var end = 1; end <= reach; end++)
        {
            if (MatchFrom(index + 1, rest[end..], stops))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// How many leading characters of <paramref name="text"/> one value could fill: up to the first separator in
    /// <paramref name="stops"/>, and only characters the filters' last step could have written.
    /// </summary>
    private static int ProducibleLength(ReadOnlySpan<char> text, TemplateFilter[] filters, string stops)
    {
        var reach = stops.Length == 0 ? text.Length : text.IndexOfAny(stops) is var stop and >= 0 ? stop : text.Length;
        if (filters.Length == 0)
        {
            return reach;
        }

        var lower = filters[^1] == TemplateFilter.Lower;
        var position = 0;
        while (position < reach)
        {
            // By rune, so that a letter outside the BMP (a surrogate pair) is judged as one letter.
            if (Rune.DecodeFromUtf16(text[position..reach], out var rune, out var used) == System.Buffers.OperationStatus.Done
                && (lower ? Rune.ToLowerInvariant(rune) : Rune.ToUpperInvariant(rune)) != rune)
            {
                return position;
            }

            position += used;
        }

        return position;
    }
}
