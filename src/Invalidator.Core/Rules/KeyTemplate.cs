using System.Buffers;
using System.Text;
using Invalidator.Core.ChangeEvents;

namespace Invalidator.Core.Rules;

/// <summary>Why a template could not be rendered from a row image.</summary>
public enum RenderFailure
{
    None,

    /// <summary>The image has no such column (for example a delete whose before image holds only the primary key).</summary>
    MissingColumn,

    /// <summary>The column is SQL NULL.</summary>
    NullColumn,

    /// <summary>Debezium did not send the value (unchanged TOAST column).</summary>
    UnavailableColumn,

    /// <summary>A before-image column that is not the row's value under the default replica identity.</summary>
    UntrustedColumn,

    /// <summary>A listed decimal column whose value cannot be decoded without a schema (precise-mode base64).</summary>
    UndecodableDecimal,

    /// <summary>The change carries no image to render from: no before, no after, no record key.</summary>
    NoImage,

    /// <summary>The rendered name is longer than the bound (<c>Invalidator:Rules:MaxKeyBytes</c>); the column holds the longest value.</summary>
    TooLong,
}

/// <summary>The sentence that says why a template did not render, and what fixes it.</summary>
public static class RenderFailureReasons
{
    public static string Describe(this RenderFailure failure, string column) => failure switch
    {
        RenderFailure.MissingColumn => $"the image has no column '{column}'",
        RenderFailure.NullColumn => $"column '{column}' is NULL",
        RenderFailure.UnavailableColumn => $"Debezium did not send column '{column}' (an unchanged TOAST value)",
        RenderFailure.UntrustedColumn =>
            $"column '{column}' of the old row is not known: without REPLICA IDENTITY FULL Postgres sends only the key columns " +
            "of an old row (Debezium fills the others with placeholders such as 0 or ''); to invalidate keys built from it, run " +
            "ALTER TABLE ... REPLICA IDENTITY FULL (with Debezium, then also drop 'replicaIdentity: default' from the rule)",
        RenderFailure.UndecodableDecimal =>
            $"decimal column '{column}' holds neither a number nor a decimal string (decimal.handling.mode=precise sends base64 " +
            "that cannot be decoded without a schema); set decimal.handling.mode=string on the connector (or enable value schemas)",
        RenderFailure.NoImage => "the change carries no row image and no record key to render from",
        RenderFailure.TooLong => $"the rendered name is longer than Invalidator:Rules:MaxKeyBytes (column '{column}' holds the longest value)",
        _ => failure.ToString(),
    };
}

/// <summary>A rendered key, or why it could not be rendered and which column was to blame.</summary>
public readonly record struct RenderResult(string? Value, RenderFailure Failure, string? Column)
{
    public bool Succeeded => Failure == RenderFailure.None;
}

/// <summary>
/// A cache key (or tag) pattern such as <c>customer:email:{email|lower}</c>: literal text with
/// placeholders <c>{column}</c> or <c>{column|filter|...}</c>; <c>{{</c> and <c>}}</c> are literal braces.
/// Filters: <c>lower</c>, <c>upper</c> (invariant culture).
/// </summary>
public sealed partial class KeyTemplate
{
    private readonly Segment[] _segments;
    private readonly int _literalLength;
    private readonly int _placeholderCount;

    private KeyTemplate(string text, Segment[] segments, IReadOnlyList<string> columns, int firstPlaceholderPosition)
    {
        Text = text;
        _segments = segments;
        Columns = columns;
        FirstPlaceholderPosition = firstPlaceholderPosition;
        foreach (var segment in segments)
        {
            if (segment.Column is null)
            {
                _literalLength += segment.Literal!.Length;
            }
            else
            {
                _placeholderCount++;
            }
        }

        if (_placeholderCount == 0)
        {
            StaticValue = string.Concat(segments.Select(s => s.Literal));
        }
    }

    /// <summary>The template as written.</summary>
    public string Text { get; }

    /// <summary>Distinct referenced columns, in order of first use.</summary>
    public IReadOnlyList<string> Columns { get; }

    /// <summary>True when the template has no placeholders: it always renders to the same key.</summary>
    public bool IsStatic => _placeholderCount == 0;

    /// <summary>The key a static template renders to (escapes resolved); null when it has placeholders.</summary>
    internal string? StaticValue { get; }

    /// <summary>0-based index in <see cref="Text"/> of the first placeholder's '{'; -1 when static.</summary>
    internal int FirstPlaceholderPosition { get; }

    /// <exception cref="TemplateSyntaxException">The text is not a valid template.</exception>
    public static KeyTemplate Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            throw new TemplateSyntaxException("the template is empty: write a key such as \"customer:{id}\"", 0);
        }

        if (string.IsNullOrWhiteSpace(text))
        {
            throw new TemplateSyntaxException("the template is only whitespace: write a key such as \"customer:{id}\"", 0);
        }

        var segments = new List<Segment>();
        var columns = new List<string>();
        var literal = new StringBuilder();
        var firstPlaceholder = -1;
        var i = 0;
        while (i < text.Length)
        {
            var c = text[i];
            if (c == '{' && i + 1 < text.Length && text[i + 1] == '{')
            {
                literal.Append('{');
                i += 2;
            }
            else if (c == '}' && i + 1 < text.Length && text[i + 1] == '}')
            {
                literal.Append('}');
                i += 2;
            }
            else if (c == '}')
            {
                throw new TemplateSyntaxException("unmatched '}': write '}}' for a literal brace, or add the '{' that opens the placeholder", i);
            }
            else if (c == '{')
            {
                var close = text.IndexOf('}', i + 1);
                var nested = text.IndexOf('{', i + 1);
                if (close < 0 || (nested >= 0 && nested < close))
                {
                    throw new TemplateSyntaxException("unclosed '{': close the placeholder with '}', or write '{{' for a literal brace", i);
                }

                if (literal.Length > 0)
                {
                    segments.Add(Segment.OfLiteral(literal.ToString()));
                    literal.Clear();
                }

                var placeholder = ParsePlaceholder(text, i, close);
                segments.Add(placeholder);
                if (!columns.Contains(placeholder.Column!))
                {
                    columns.Add(placeholder.Column!);
                }

                if (firstPlaceholder < 0)
                {
                    firstPlaceholder = i;
                }

                i = close + 1;
            }
            else
            {
                literal.Append(c);
                i++;
            }
        }

        if (literal.Length > 0)
        {
            segments.Add(Segment.OfLiteral(literal.ToString()));
        }

        return new KeyTemplate(text, [.. segments], columns.AsReadOnly(), firstPlaceholder);
    }

    /// <summary>
    /// Renders the key from one row image. A referenced column that is missing, NULL or unavailable fails the
    /// whole render: a key built with a blank would name some other entry and leave the real one stale.
    /// </summary>
    public RenderResult Render(RowImage image)
    {
        ArgumentNullException.ThrowIfNull(image);
        if (StaticValue is not null)
        {
            return new RenderResult(StaticValue, RenderFailure.None, null);
        }

        var buffer = RenderBuffer.Rent();
        var failure = RenderInto(image, ref buffer, out var length, out var column);
        var result = failure == RenderFailure.None
            ? new RenderResult(new string(buffer, 0, length), RenderFailure.None, null)
            : new RenderResult(null, failure, column);
        RenderBuffer.Return(buffer);
        return result;
    }

    /// <summary>
    /// Renders into <paramref name="buffer"/> (grown when too small): the key is its first <paramref name="length"/>
    /// characters. Otherwise the failure and the column to blame. Allocates nothing.
    /// </summary>
    internal RenderFailure RenderInto(IRowValues row, ref char[] buffer, out int length, out string? failedColumn)
    {
        length = 0;
        failedColumn = null;
        foreach (var segment in _segments)
        {
            if (segment.Column is not { } column)
            {
                Append(ref buffer, ref length, segment.Literal);
                continue;
            }

            if (!row.TryGetText(column, out var kind, out var text))
            {
                failedColumn = column;
                return RenderFailure.MissingColumn;
            }

            var failure = kind switch
            {
                ColumnValueKind.Present => RenderFailure.None,
                ColumnValueKind.Unavailable => RenderFailure.UnavailableColumn,
                ColumnValueKind.Untrusted => RenderFailure.UntrustedColumn,
                ColumnValueKind.Undecodable => RenderFailure.UndecodableDecimal,
                _ => RenderFailure.NullColumn,
            };
            if (failure != RenderFailure.None)
            {
                failedColumn = column;
                return failure;
            }

            var start = length;
            Append(ref buffer, ref length, text);
            WriteFiltered(buffer.AsSpan(start, text.Length), segment.Filters);
        }

        return RenderFailure.None;
    }

    private static void Append(ref char[] buffer, ref int length, ReadOnlySpan<char> text)
    {
        if (length + text.Length > buffer.Length)
        {
            var grown = new char[Math.Max(buffer.Length * 2, length + text.Length)];
            buffer.AsSpan(0, length).CopyTo(grown);
            buffer = grown;
        }

        text.CopyTo(buffer.AsSpan(length));
        length += text.Length;
    }

    public override string ToString() => Text;

    // Invariant lower/upper casing maps one UTF-16 unit to one, so a value is cased in place.
    private static void WriteFiltered(Span<char> target, TemplateFilter[] filters)
    {
        if (filters.Length == 0)
        {
            return;
        }

        // ASCII (nearly every key) is cased in place; the first other character sends the rest to the invariant
        // culture's casing, which maps ASCII letters exactly as this does.
        if (filters.Length == 1)
        {
            var status = filters[0] == TemplateFilter.Lower
                ? System.Text.Ascii.ToLowerInPlace(target, out var done)
                : System.Text.Ascii.ToUpperInPlace(target, out done);
            if (status == OperationStatus.Done)
            {
                return;
            }

            target = target[done..];
        }

        // The span APIs refuse overlapping buffers, so each step copies first.
        char[]? rented = null;
        var scratch = target.Length <= 256 ? stackalloc char[target.Length] : (rented = ArrayPool<char>.Shared.Rent(target.Length)).AsSpan(0, target.Length);
        foreach (var filter in filters)
        {
            target.CopyTo(scratch);
            Apply(filter, scratch, target);
        }

        if (rented is not null)
        {
            ArrayPool<char>.Shared.Return(rented);
        }
    }

    private static void Apply(TemplateFilter filter, ReadOnlySpan<char> source, Span<char> target)
    {
        _ = filter == TemplateFilter.Lower ? source.ToLowerInvariant(target) : source.ToUpperInvariant(target);
    }

    private static Segment ParsePlaceholder(string text, int open, int close)
    {
        if (close == open + 1)
        {
            throw new TemplateSyntaxException("empty placeholder '{}': put a column name inside, such as {id}, or write '{{}}' for literal braces", open);
        }

        var filters = new List<TemplateFilter>();
        string? column = null;
        var start = open + 1;
        while (true)
        {
            var bar = text.IndexOf('|', start, close - start);
            var end = bar < 0 ? close : bar;
            var name = text[start..end];
            var whitespace = IndexOfWhitespace(name);
            if (whitespace >= 0)
            {
                throw new TemplateSyntaxException("whitespace inside a placeholder: write it without spaces, such as {email|lower}", start + whitespace);
            }

            if (column is null)
            {
                if (name.Length == 0)
                {
                    throw new TemplateSyntaxException("the placeholder has no column name before '|': write it as {column|filter}, such as {email|lower}", start);
                }

                column = name;
            }
            else
            {
                filters.Add(name switch
                {
                    "lower" => TemplateFilter.Lower,
                    "upper" => TemplateFilter.Upper,
                    "" => throw new TemplateSyntaxException("empty filter after '|': remove the '|' or name a filter (lower or upper)", start),
                    _ => throw new TemplateSyntaxException($"unknown filter '{name}': the filters are lower and upper", start),
                });
            }

            if (bar < 0)
            {
                return Segment.OfColumn(column, [.. filters]);
            }

            start = bar + 1;
        }
    }

    private enum TemplateFilter
    {
        Lower,
        Upper,
    }

    /// <summary>Either literal text (escapes resolved) or a column with its filters.</summary>
    private readonly record struct Segment(string? Literal, string? Column, TemplateFilter[] Filters)
    {
        public static Segment OfLiteral(string text) => new(text, null, []);

        public static Segment OfColumn(string column, TemplateFilter[] filters) => new(null, column, filters);
    }

    private static int IndexOfWhitespace(string name)
    {
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsWhiteSpace(name[i]))
            {
                return i;
            }
        }

        return -1;
    }
}

/// <summary>A key template that does not parse; <see cref="Position"/> is the 0-based index of the offending character.</summary>
public sealed class TemplateSyntaxException : Exception
{
    public TemplateSyntaxException(string message, int position)
        : base(message)
    {
        Position = position;
    }

    /// <summary>0-based index in the template text of the offending character.</summary>
    public int Position { get; }
}

/// <summary>The per-thread buffer keys are rendered into before they become strings (if they do).</summary>
internal static class RenderBuffer
{
    [ThreadStatic]
    private static char[]? t_buffer;

    public static char[] Rent()
    {
        var buffer = t_buffer ?? new char[256];
        t_buffer = null;
        return buffer;
    }

    /// <summary>Larger buffers (a huge rendered name) are not kept: the thread would hold them for good.</summary>
    private const int MaxKept = 64 * 1024;

    public static void Return(char[] buffer)
    {
        if (buffer.Length <= MaxKept && (t_buffer is null || buffer.Length > t_buffer.Length))
        {
            t_buffer = buffer;
        }
    }
}
