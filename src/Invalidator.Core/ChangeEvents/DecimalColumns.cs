using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Numerics;
using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>Which row image a column belongs to, for looking up its schema.</summary>
internal enum RowScope
{
    /// <summary>The struct the schema describes directly: an unwrapped row, or a key.</summary>
    Root,
    Before,
    After,
}

/// <summary>
/// The columns that a Connect schema declares as <c>org.apache.kafka.connect.data.Decimal</c>, with their scale.
/// That is the only thing the decoder needs from a schema (precise decimals arrive as bare base64), so the
/// schema is streamed once and nothing else of it is kept.
/// </summary>
internal sealed class DecimalColumns
{
    private static ReadOnlySpan<byte> DecimalName => "org.apache.kafka.connect.data.Decimal"u8;

    private readonly List<(RowScope Scope, string Column, int Scale)> _columns = [];

    private DecimalColumns()
    {
    }

    /// <summary>The decimal columns of <paramref name="schema"/>; null when it declares none (the usual case).</summary>
    public static DecimalColumns? Find(ReadOnlySpan<byte> json, JsonSegment schema)
    {
        // A vectorised search rules out almost every schema without parsing it.
        if (!schema.IsObject || schema.Of(json).IndexOf(DecimalName) < 0)
        {
            return null;
        }

        var decimals = new DecimalColumns();
        var reader = schema.Open(json);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isFields = reader.ValueTextEquals("fields"u8);
            reader.Read();
            if (isFields && reader.TokenType == JsonTokenType.StartArray)
            {
                decimals.ReadFields(ref reader, json, schema.Start, RowScope.Root, topLevel: true);
            }
            else
            {
                reader.Skip();
            }
        }

        return decimals._columns.Count == 0 ? null : decimals;
    }

    public bool TryGetScale(RowScope scope, string column, out int scale)
    {
        foreach (var entry in _columns)
        {
            if (entry.Scope == scope && string.Equals(entry.Column, column, StringComparison.Ordinal))
            {
                scale = entry.Scale;
                return true;
            }
        }

        scale = 0;
        return false;
    }

    /// <summary>Reads a <c>fields</c> array (reader on its StartArray) and leaves the reader on its EndArray.</summary>
    private void ReadFields(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, int baseOffset, RowScope scope, bool topLevel)
    {
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType == JsonTokenType.StartObject)
            {
                ReadField(ref reader, json, baseOffset, scope, topLevel);
            }
            else
            {
                reader.Skip();
            }
        }
    }

    private void ReadField(ref Utf8JsonReader reader, ReadOnlySpan<byte> json, int baseOffset, RowScope scope, bool topLevel)
    {
        // "field" usually comes last (JsonConverter writes type, fields, optional, name, parameters, field),
        // so positions are remembered and the name is only materialised for a decimal.
        var fieldName = default(JsonSegment);
        var nestedFields = default(JsonSegment);
        var isDecimal = false;
        int? scale = null;

        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("field"u8))
            {
                reader.Read();
                fieldName = JsonSegment.Take(ref reader, baseOffset);
            }
            else if (reader.ValueTextEquals("name"u8))
            {
                reader.Read();
                isDecimal = reader.TokenType == JsonTokenType.String && reader.ValueTextEquals(DecimalName);
            }
            else if (reader.ValueTextEquals("parameters"u8))
            {
                reader.Read();
                scale = ReadScale(ref reader);
            }
            else if (topLevel && reader.ValueTextEquals("fields"u8))
            {
                reader.Read();
                nestedFields = JsonSegment.Take(ref reader, baseOffset);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        if (isDecimal && scale is { } s && fieldName.GetString(json) is { } column)
        {
            _columns.Add((scope, column, s));
        }

        // Only the envelope's before/after structs hold columns; source, transaction and the rest never do.
        if (nestedFields.Type == JsonTokenType.StartArray)
        {
            var nestedScope = fieldName.TextEquals(json, "before"u8) ? RowScope.Before
                : fieldName.TextEquals(json, "after"u8) ? RowScope.After
                : (RowScope?)null;
            if (nestedScope is { } rowScope)
            {
                var nested = nestedFields.Open(json);
                ReadFields(ref nested, json, nestedFields.Start, rowScope, topLevel: false);
            }
        }
    }

    /// <summary>Reads <c>parameters.scale</c> (a string in Connect's JSON schema, tolerated as a number).</summary>
    private static int? ReadScale(ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
        {
            reader.Skip();
            return null;
        }

        int? scale = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isScale = reader.ValueTextEquals("scale"u8);
            reader.Read();
            if (isScale)
            {
                scale = ParseInt32(ref reader);
            }

            reader.Skip();
        }

        return scale;
    }

    public static int? ParseInt32(ref Utf8JsonReader reader)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            return reader.TryGetInt32(out var number) ? number : null;
        }

        if (reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped
            && int.TryParse(reader.ValueSpan, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
        {
            return parsed;
        }

        return null;
    }

    /// <summary>
    /// The most fraction digits (or, negative, trailing zeros) a decimal is rendered with: Postgres keeps at most 16383,
    /// other databases fewer. A scale beyond it is no database's, and rendering it could take gigabytes.
    /// </summary>
    public const int MaxScale = 16383;

    public static bool IsRenderableScale(int scale) => scale is >= -MaxScale and <= MaxScale;

    /// <summary>
    /// Renders a Connect decimal: base64 of the big-endian two's-complement unscaled value, with the scale
    /// applied (trailing zeros kept, as the column's scale says). Null when the text is not base64 or the scale is not renderable.
    /// </summary>
    public static string? Format(ReadOnlySpan<byte> base64Utf8, int scale)
    {
        // The decoder tolerates whitespace, JsonConverter never writes it: such text is something else.
        if (!IsRenderableScale(scale) || base64Utf8.ContainsAny(" \t\r\n"u8))
        {
            return null;
        }

        var maxLength = Base64.GetMaxDecodedFromUtf8Length(base64Utf8.Length);
        byte[]? rented = null;
        var bytes = maxLength <= 64 ? stackalloc byte[64] : (rented = ArrayPool<byte>.Shared.Rent(maxLength));
        try
        {
            if (Base64.DecodeFromUtf8(base64Utf8, bytes, out _, out var written) != OperationStatus.Done || written == 0)
            {
                return null;
            }

            var unscaled = new BigInteger(bytes[..written], isUnsigned: false, isBigEndian: true);
            return FormatScaled(unscaled, scale);
        }
        finally
        {
            JsonText.Return(rented);
        }
    }

    /// <summary>
    /// A Decimal column written as a JSON number (JsonConverter's <c>decimal.format=NUMERIC</c>), rendered with the column's
    /// scale as its base64 would be (<c>12.5</c> at scale 2 is <c>12.50</c>). Null when no rendering at that scale is
    /// faithful: the number has more digits after the point than the scale, or its exponent is out of any decimal's range.
    /// </summary>
    public static string? FormatNumber(ReadOnlySpan<byte> number, int scale)
    {
        const int MaxShift = 1000; // far beyond any database's decimal; bounds the work a hostile exponent can cause
        var negative = number.Length > 0 && number[0] == (byte)'-';
        var i = negative ? 1 : 0;
        Span<char> digits = number.Length <= 128 ? stackalloc char[number.Length] : new char[number.Length];
        var count = 0;
        var fraction = 0;
        var inFraction = false;
        for (; i < number.Length && number[i] is not ((byte)'e' or (byte)'E'); i++)
        {
            if (number[i] == (byte)'.')
            {
                inFraction = true;
                continue;
            }

            if (number[i] is < (byte)'0' or > (byte)'9')
            {
                return null;
            }

            digits[count++] = (char)number[i];
            fraction += inFraction ? 1 : 0;
        }

        var exponent = 0;
        if (i < number.Length
            && !int.TryParse(number[(i + 1)..], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out exponent))
        {
            return null;
        }

        var mantissa = digits[..count].TrimStart('0');
        if (mantissa.IsEmpty)
        {
            return FormatScaled(BigInteger.Zero, scale);
        }

        // value = mantissa * 10^(exponent - fraction); unscaled = value * 10^scale.
        var shift = (long)exponent - fraction + scale;
        if (shift < 0)
        {
            // Exact only when the digits dropped are zeros.
            var trailing = mantissa.Length - mantissa.TrimEnd('0').Length;
            if (-shift > trailing)
            {
                return null;
            }

            mantissa = mantissa[..(mantissa.Length + (int)shift)];
            shift = 0;
        }

        if (shift > MaxShift)
        {
            return null;
        }

        var unscaled = BigInteger.Parse(mantissa, NumberStyles.None, CultureInfo.InvariantCulture) * BigInteger.Pow(10, (int)shift);
        return FormatScaled(negative ? -unscaled : unscaled, scale);
    }

    private static string FormatScaled(BigInteger unscaled, int scale)
    {
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture);
        var sign = unscaled.Sign < 0 ? "-" : "";
        if (scale <= 0)
        {
            // Negative scales (Oracle NUMBER with negative scale) multiply by a power of ten.
            return unscaled.IsZero ? "0" : string.Concat(sign, digits, new string('0', -scale));
        }

        if (digits.Length > scale)
        {
            return string.Concat(sign, digits.AsSpan(0, digits.Length - scale), ".", digits.AsSpan(digits.Length - scale));
        }

        return string.Concat(sign, "0.", new string('0', scale - digits.Length), digits);
    }
}
