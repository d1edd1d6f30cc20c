using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Invalidator.Core.ChangeEvents;

/// <summary>Reads a JSON row object (before, after, key, or an unwrapped row) into a <see cref="RowImage"/>.</summary>
internal static class RowImageReader
{
    private static ReadOnlySpan<byte> UnavailableUtf8 => "__debezium_unavailable_value"u8;

    // The placeholder's bytes as base64: what Debezium sends for an unchanged TOASTed bytea column.
    private static ReadOnlySpan<byte> UnavailableBase64Utf8 => "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="u8;

    // Reused per thread so that building a row costs only the RowImage's own dictionary.
    [ThreadStatic]
    private static List<KeyValuePair<string, ColumnValue>>? t_columns;

    /// <summary>
    /// The row in <paramref name="segment"/>; null when it is absent or JSON null.
    /// <paramref name="skipMetadata"/> drops the <c>__</c> fields that the unwrap SMT adds.
    /// <paramref name="hints"/> names the table's decimal columns, for values without a schema. When
    /// <paramref name="trusted"/> is given, only its columns keep their values: every other column is
    /// <see cref="ColumnValue.Untrusted"/> (a before image under the default replica identity).
    /// </summary>
    public static RowImage? Read(
        ReadOnlySpan<byte> json, JsonSegment segment, string part, DecimalColumns? decimals, RowScope scope, bool skipMetadata,
        TableDecodingHints? hints = null, RowImage? trusted = null)
    {
        if (!segment.HasValue)
        {
            return null;
        }

        if (!segment.IsObject)
        {
            throw new ChangeEventFormatException(
                $"The {part} is a JSON {JsonText.Describe(segment.Type)} where a row object or null was expected.");
        }

        var rowJson = segment.Of(json);
        var reader = new Utf8JsonReader(rowJson, JsonText.ReaderOptions);
        reader.Read();
        var columns = t_columns ??= new List<KeyValuePair<string, ColumnValue>>(32);
        var listed = hints is { Decimals.Count: > 0 } ? hints.Decimals : null;
        try
        {
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (skipMetadata && EnvelopeFields.IsMetadataName(ref reader))
                {
                    reader.Read();
                    reader.Skip();
                    continue;
                }

                var name = NameCache.Get(ref reader);
                reader.Read();
                if (trusted is not null && !trusted.Contains(name))
                {
                    reader.Skip();
                    columns.Add(new(name, ColumnValue.Untrusted));
                    continue;
                }

                columns.Add(new(name, ReadValue(ref reader, rowJson, name, decimals, scope, listed)));
            }

            return new RowImage(columns);
        }
        catch (ArgumentException ex)
        {
            throw new ChangeEventFormatException($"The {part} has the same column twice ({ex.Message}).", ex);
        }
        finally
        {
            columns.Clear();
        }
    }

    /// <summary>
    /// Reads the row in <paramref name="segment"/> into <paramref name="row"/>, keeping only the row's columns (those
    /// the rules use) and skipping the rest unread; the same values <see cref="Read"/> gives for those columns.
    /// <see cref="ScratchRead.Absent"/> when the segment is absent or null; <see cref="ScratchRead.Unsupported"/> for
    /// what only the full read handles exactly (a repeated or escaped column name, text that is not UTF-8), which the
    /// caller then decodes with it.
    /// </summary>
    public static ScratchRead ReadInto(
        ReadOnlySpan<byte> json, JsonSegment segment, string part, DecimalColumns? decimals, RowScope scope, TableDecodingHints? hints,
        IRowValues? trusted, ScratchRow row)
    {
        if (!segment.HasValue)
        {
            return ScratchRead.Absent;
        }

        if (!segment.IsObject)
        {
            throw new ChangeEventFormatException(
                $"The {part} is a JSON {JsonText.Describe(segment.Type)} where a row object or null was expected.");
        }

        row.MarkRow();
        var rowJson = segment.Of(json);
        var reader = new Utf8JsonReader(rowJson, JsonText.ReaderOptions);
        reader.Read();
        var listed = hints is { Decimals.Count: > 0 } ? hints.Decimals : null;
        Span<long> names = stackalloc long[MaxScratchColumns]; // (start << 32 | length) of every name, to find a repeated one
        var count = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueIsEscaped || count == MaxScratchColumns)
            {
                return ScratchRead.Unsupported;
            }

            var start = (int)reader.TokenStartIndex + 1;
            var name = reader.ValueSpan;
            for (var i = 0; i < count; i++)
            {
                if ((int)names[i] == name.Length && rowJson.Slice((int)(names[i] >> 32), name.Length).SequenceEqual(name))
                {
                    return ScratchRead.Unsupported; // the full read reports the repeated column
                }
            }

            names[count++] = ((long)start << 32) | (uint)name.Length;
            var index = row.IndexOf(name);
            reader.Read();
            if (index < 0)
            {
                // Unread, but only if the full read would accept it too: it decodes every name and string value.
                if (!Utf8.IsValid(name)
                    || (reader.TokenType == JsonTokenType.String && !FullReadAccepts(ref reader, name, decimals, scope))
                    || (reader.TokenType != JsonTokenType.Null && MayBeSchemaDecimal(name, decimals, scope)))
                {
                    return ScratchRead.Unsupported;
                }

                reader.Skip();
                continue;
            }

            var column = row.Column(index);
            if (trusted is not null && !trusted.Contains(column))
            {
                reader.Skip();
                row.Set(index, ColumnValueKind.Untrusted);
                continue;
            }

            if (!ReadValueInto(ref reader, rowJson, column, index, decimals, scope, listed, row))
            {
                return ScratchRead.Unsupported;
            }
        }

        return ScratchRead.Read;
    }

    private const int MaxScratchColumns = 128;

    /// <summary>Whether the schema declares this column Decimal (or the name cannot be looked up): only the full read judges its value.</summary>
    private static bool MayBeSchemaDecimal(ReadOnlySpan<byte> name, DecimalColumns? decimals, RowScope scope) =>
        decimals is not null && (NameCache.Get(name) is not { } column || decimals.TryGetScale(scope, column, out _));

    /// <summary>Whether the full read would turn this string value into text without an error (valid text; a schema decimal that is base64).</summary>
    private static bool FullReadAccepts(ref Utf8JsonReader reader, ReadOnlySpan<byte> name, DecimalColumns? decimals, RowScope scope)
    {
        if (decimals is not null && NameCache.Get(name) is { } column && decimals.TryGetScale(scope, column, out _))
        {
            return false; // rare: let the full read format or refuse it
        }

        if (!reader.ValueIsEscaped)
        {
            return Utf8.IsValid(reader.ValueSpan);
        }

        byte[]? rented = null;
        try
        {
            _ = JsonText.Unescaped(ref reader, ref rented); // throws for an escape that is no valid UTF-16
            return true;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
        finally
        {
            JsonText.Return(rented);
        }
    }

    private static bool ReadValueInto(
        ref Utf8JsonReader reader, ReadOnlySpan<byte> rowJson, string column, int index, DecimalColumns? decimals, RowScope scope,
        IReadOnlySet<string>? listed, ScratchRow row)
    {
        switch (reader.TokenType)
        {
            case not (JsonTokenType.String or JsonTokenType.Null) when decimals is not null && decimals.TryGetScale(scope, column, out _):
                // A schema decimal that is not base64: rendered (or refused) as the full read does.
                var decimalValue = ReadValue(ref reader, rowJson, column, decimals, scope, listed);
                row.Set(index, decimalValue.Kind, decimalValue.Text);
                return true;
            case JsonTokenType.Null:
                row.Set(index, ColumnValueKind.Null);
                return true;
            case JsonTokenType.True:
                row.Set(index, IsListed(listed, column) ? ColumnValueKind.Undecodable : ColumnValueKind.Present, "true");
                return true;
            case JsonTokenType.False:
                row.Set(index, IsListed(listed, column) ? ColumnValueKind.Undecodable : ColumnValueKind.Present, "false");
                return true;
            case JsonTokenType.Number:
                row.SetUtf8(index, ColumnValueKind.Present, reader.ValueSpan); // ASCII, as written
                return true;
            case JsonTokenType.String when !reader.ValueIsEscaped && (decimals is null || !decimals.TryGetScale(scope, column, out _)):
                if (reader.ValueTextEquals(UnavailableUtf8) || reader.ValueTextEquals(UnavailableBase64Utf8))
                {
                    row.Set(index, ColumnValueKind.Unavailable);
                    return true;
                }

                if (!Utf8.IsValid(reader.ValueSpan))
                {
                    return false;
                }

                row.SetUtf8(index, ColumnValueKind.Present, reader.ValueSpan);
                if (IsListed(listed, column) && !IsDecimalText(row.Text(index)))
                {
                    row.SetKind(index, ColumnValueKind.Undecodable);
                }

                return true;
            default:
                // Escaped text, schema decimals, structures: rare in key columns; read as the full read does.
                var value = ReadValue(ref reader, rowJson, column, decimals, scope, listed);
                row.Set(index, value.Kind, value.Text);
                return true;
        }
    }

    private static ColumnValue ReadValue(
        ref Utf8JsonReader reader, ReadOnlySpan<byte> rowJson, string column, DecimalColumns? decimals, RowScope scope, IReadOnlySet<string>? listed)
    {
        if (decimals is not null && reader.TokenType is not (JsonTokenType.String or JsonTokenType.Null)
            && decimals.TryGetScale(scope, column, out var scale))
        {
            return SchemaDecimal(ref reader, column, scale);
        }

        switch (reader.TokenType)
        {
            case JsonTokenType.Null:
                return ColumnValue.Null;
            case JsonTokenType.True:
                return IsListed(listed, column) ? ColumnValue.UndecodableOf("true") : ColumnValue.Of("true");
            case JsonTokenType.False:
                return IsListed(listed, column) ? ColumnValue.UndecodableOf("false") : ColumnValue.Of("false");
            case JsonTokenType.Number:
                // The token text as written: exact for int64 beyond 2^53 and for decimals in double/string mode.
                return ColumnValue.Of(Encoding.UTF8.GetString(reader.ValueSpan));
            case JsonTokenType.String:
                return ReadString(ref reader, column, decimals, scope, listed);
            default:
                var start = (int)reader.TokenStartIndex;
                var type = reader.TokenType;
                reader.Skip();
                var value = ReadContainer(rowJson[start..(int)reader.BytesConsumed], type, out var isDecimal);
                // A listed decimal column may hold a VariableScaleDecimal struct; any other structure is not a decimal.
                return value.IsPresent && !isDecimal && IsListed(listed, column) ? ColumnValue.UndecodableOf(value.Text!) : value;
        }
    }

    private static bool IsListed(IReadOnlySet<string>? listed, string column) => listed is not null && listed.Contains(column);

    /// <summary>
    /// A column the schema declares Decimal that holds no base64 string: a JSON number renders with the column's scale
    /// when that is exact (JsonConverter's <c>decimal.format=NUMERIC</c>); anything else has no faithful rendering, and a
    /// key made of it would be one no application writes, so the record is undecodable.
    /// </summary>
    private static ColumnValue SchemaDecimal(ref Utf8JsonReader reader, string column, int scale)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            return ColumnValue.Of(DecimalColumns.FormatNumber(reader.ValueSpan, scale)
                ?? throw new ChangeEventFormatException(
                    $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal with scale {scale}, but its value " +
                    $"{Quote(Encoding.UTF8.GetString(reader.ValueSpan))} has more digits after the point than that (or is out of range), " +
                    "so no key rendered from it would be the application's."));
        }

        throw new ChangeEventFormatException(
            $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal but its value is a JSON {JsonText.Describe(reader.TokenType)}, not base64.");
    }

    private static string Quote(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "...");

    private static ColumnValue ReadString(ref Utf8JsonReader reader, string column, DecimalColumns? decimals, RowScope scope, IReadOnlySet<string>? listed)
    {
        if (reader.ValueTextEquals(UnavailableUtf8) || reader.ValueTextEquals(UnavailableBase64Utf8))
        {
            return ColumnValue.Unavailable;
        }

        if (decimals is null || !decimals.TryGetScale(scope, column, out var scale))
        {
            var text = reader.GetString()!;
            // Without a schema a listed decimal is rendered only when it is written as a number (string mode);
            // the base64 of precise mode cannot be decoded without the scale.
            return IsListed(listed, column) && !IsDecimalText(text) ? ColumnValue.UndecodableOf(text) : ColumnValue.Of(text);
        }

        if (!DecimalColumns.IsRenderableScale(scale))
        {
            throw new ChangeEventFormatException(
                $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal with scale {scale}, beyond the {DecimalColumns.MaxScale} digits any database keeps.");
        }

        byte[]? rented = null;
        try
        {
            var text = JsonText.Unescaped(ref reader, ref rented);
            return ColumnValue.Of(DecimalColumns.Format(text, scale)
                ?? throw new ChangeEventFormatException(
                    $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal but its value is not base64."));
        }
        finally
        {
            JsonText.Return(rented);
        }
    }

    private static ColumnValue ReadContainer(ReadOnlySpan<byte> raw, JsonTokenType type, out bool isDecimal)
    {
        isDecimal = false;
        if (type == JsonTokenType.StartArray && IsUnavailableArray(raw))
        {
            return ColumnValue.Unavailable;
        }

        if (type == JsonTokenType.StartObject && TryReadVariableScaleDecimal(raw) is { } number)
        {
            isDecimal = true;
            return ColumnValue.Of(number);
        }

        return ColumnValue.Of(JsonText.Compact(raw));
    }

    /// <summary>
    /// A decimal as <c>decimal.handling.mode=string</c> writes it (Java's BigDecimal text): an optional sign,
    /// digits with an optional fraction, an optional exponent. Such text is never the base64 of precise mode
    /// unless it is digits only, which the connector's string mode is there to avoid.
    /// </summary>
    internal static bool IsDecimalText(ReadOnlySpan<char> text)
    {
        var i = SkipSign(text, 0);
        var digits = SkipDigits(text, ref i);
        if (i < text.Length && text[i] == '.')
        {
            i++;
            digits += SkipDigits(text, ref i);
        }

        if (digits == 0)
        {
            return false;
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            i = SkipSign(text, i + 1);
            if (SkipDigits(text, ref i) == 0)
            {
                return false;
            }
        }

        return i == text.Length;
    }

    private static int SkipSign(ReadOnlySpan<char> text, int i) => i < text.Length && text[i] is '+' or '-' ? i + 1 : i;

    private static int SkipDigits(ReadOnlySpan<char> text, ref int i)
    {
        var start = i;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
        {
            i++;
        }

        return i - start;
    }

    /// <summary>Debezium sends an unchanged TOASTed array column as a one-element array holding the placeholder.</summary>
    private static bool IsUnavailableArray(ReadOnlySpan<byte> raw)
    {
        var reader = new Utf8JsonReader(raw, JsonText.ReaderOptions);
        reader.Read();
        return reader.Read()
            && reader.TokenType == JsonTokenType.String
            && (reader.ValueTextEquals(UnavailableUtf8) || reader.ValueTextEquals(UnavailableBase64Utf8))
            && reader.Read()
            && reader.TokenType == JsonTokenType.EndArray;
    }

    /// <summary>
    /// <c>io.debezium.data.VariableScaleDecimal</c> is a struct <c>{"scale":N,"value":"base64"}</c>; it is
    /// recognised by that shape, so it decodes with or without a schema. Null when the object is something else.
    /// </summary>
    private static string? TryReadVariableScaleDecimal(ReadOnlySpan<byte> raw)
    {
        var reader = new Utf8JsonReader(raw, JsonText.ReaderOptions);
        reader.Read();
        int? scale = null;
        var value = default(JsonSegment);
        var count = 0;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            count++;
            if (reader.ValueTextEquals("scale"u8))
            {
                reader.Read();
                scale = reader.TokenType == JsonTokenType.Number ? DecimalColumns.ParseInt32(ref reader) : null;
                reader.Skip();
            }
            else if (reader.ValueTextEquals("value"u8))
            {
                reader.Read();
                value = JsonSegment.Take(ref reader, 0);
            }
            else
            {
                return null;
            }
        }

        if (count != 2 || scale is not { } s || value.Type != JsonTokenType.String)
        {
            return null;
        }

        var valueReader = value.Open(raw);
        byte[]? rented = null;
        try
        {
            return DecimalColumns.Format(JsonText.Unescaped(ref valueReader, ref rented), s);
        }
        finally
        {
            JsonText.Return(rented);
        }
    }
}

/// <summary>What <see cref="RowImageReader.ReadInto"/> did.</summary>
internal enum ScratchRead
{
    /// <summary>No row: the segment is absent or JSON null.</summary>
    Absent,

    /// <summary>The row's kept columns were read.</summary>
    Read,

    /// <summary>Something only the full read handles exactly: decode the record with it.</summary>
    Unsupported,
}
