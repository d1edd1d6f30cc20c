using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// Reads a JSON row object (before, after, key, or an unwrapped row) into a row sink: every decoding rule of a column
/// value is here once, for the full decode (<see cref="RowImageBuilder"/>, every column into a <see cref="RowImage"/>) and
/// for the worker's one-pass path (<see cref="ScratchRowSink"/>, only the columns the rules use into a reusable row).
/// </summary>
internal static class RowImageReader
{
    /// <summary>The slot of a column the sink does not keep: its value is read only as far as it may make the record unreadable.</summary>
    public const int Unkept = -1;

    /// <summary>A sink's answer for a column it cannot read exactly (the one-pass path): the record is left to the full decode.</summary>
    public const int Declined = -2;

    private static ReadOnlySpan<byte> UnavailableUtf8 => "__debezium_unavailable_value"u8;

    // The placeholder's bytes as base64: what Debezium sends for an unchanged TOASTed bytea column.
    private static ReadOnlySpan<byte> UnavailableBase64Utf8 => "X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ=="u8;

    /// <summary>
    /// Reads the row in <paramref name="segment"/> into <paramref name="row"/>: <see cref="RowRead.Absent"/> when it is
    /// absent or JSON null. <paramref name="skipMetadata"/> drops the <c>__</c> fields that the unwrap SMT adds.
    /// <paramref name="hints"/> names the table's decimal columns, for values without a schema. When
    /// <paramref name="trusted"/> is given, only its columns keep their values: every other column is
    /// <see cref="ColumnValueKind.Untrusted"/> (a before image under the default replica identity). A column the sink does
    /// not keep is still checked as far as it may make the record unreadable, so both sinks accept the same records.
    /// </summary>
    public static RowRead Read<TRow>(
        ReadOnlySpan<byte> json, JsonSegment segment, string part, DecimalColumns? decimals, RowScope scope, bool skipMetadata,
        TableDecodingHints? hints, IRowValues? trusted, NameCache names, ref TRow row)
        where TRow : struct, IRowSink
    {
        if (!segment.HasValue)
        {
            return RowRead.Absent;
        }

        if (!segment.IsObject)
        {
            throw new ChangeEventFormatException(
                $"The {part} is a JSON {JsonText.Describe(segment.Type)} where a row object or null was expected.");
        }

        var rowJson = segment.Of(json);
        var reader = new Utf8JsonReader(rowJson, JsonText.ReaderOptions);
        reader.Read();
        var read = ReadObject(ref reader, rowJson, part, decimals, scope, skipMetadata, hints, trusted, names, ref row);
        if (read == RowRead.Read && reader.BytesConsumed != rowJson.Length)
        {
            // A segment that is a whole document (a record key read in one pass) may have text after its object: only whitespace.
            reader.Read(); // throws when anything but whitespace follows
        }

        return read;
    }

    /// <summary>
    /// <see cref="Read"/> of the row object the reader is on (its StartObject), which <paramref name="readerJson"/> holds at
    /// the reader's offsets. Leaves the reader on the row's EndObject, except when the sink declines a column.
    /// </summary>
    public static RowRead ReadObject<TRow>(
        ref Utf8JsonReader reader, ReadOnlySpan<byte> readerJson, string part, DecimalColumns? decimals, RowScope scope, bool skipMetadata,
        TableDecodingHints? hints, IRowValues? trusted, NameCache names, ref TRow row)
        where TRow : struct, IRowSink
    {
        var rowJson = readerJson;
        var listed = hints is { Decimals.Count: > 0 } ? hints.Decimals : null;
        row.Begin();
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

                var slot = row.Column(ref reader, rowJson, out var column);
                if (slot == Declined)
                {
                    return RowRead.Declined;
                }

                // An unkept column's name must be text all the same; its string is needed only to look it up.
                column ??= decimals is not null || trusted is not null ? names.Get(ref reader) : RequireText(ref reader);
                reader.Read();
                if (trusted is not null && !trusted.Contains(column!))
                {
                    reader.Skip();
                    row.Set(slot, ColumnValueKind.Untrusted, null);
                    continue;
                }

                ReadValue(ref reader, rowJson, slot, column, decimals, scope, listed, ref row);
            }

            row.End();
            return RowRead.Read;
        }
        catch (ArgumentException ex)
        {
            throw new ChangeEventFormatException($"The {part} has the same column twice ({ex.Message}).", ex);
        }
    }

    /// <summary>Null when the token the reader is on is valid UTF-8; otherwise throws what the reader throws for it.</summary>
    private static string? RequireText(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && Utf8.IsValid(reader.ValueSpan))
        {
            return null;
        }

        _ = reader.GetString(); // throws InvalidOperationException for text that is not UTF-8, as the full read always has
        return null;
    }

    /// <summary>
    /// One column's value. <paramref name="column"/> is null only for an unkept column of a row without schema decimals or
    /// trusted columns, where nothing depends on its name.
    /// </summary>
    private static void ReadValue<TRow>(
        ref Utf8JsonReader reader, ReadOnlySpan<byte> rowJson, int slot, string? column, DecimalColumns? decimals, RowScope scope,
        IReadOnlySet<string>? listed, ref TRow row)
        where TRow : struct, IRowSink
    {
        var type = reader.TokenType;
        var scale = 0;
        var isDecimal = type != JsonTokenType.Null && decimals is not null && column is not null && decimals.TryGetScale(scope, column, out scale);
        switch (type)
        {
            case JsonTokenType.Null:
                row.Set(slot, ColumnValueKind.Null, null);
                break;
            case JsonTokenType.String:
                ReadString(ref reader, slot, column, isDecimal, scale, listed, ref row);
                break;
            case var _ when isDecimal:
                row.Set(slot, ColumnValueKind.Present, SchemaDecimal(ref reader, column!, scale));
                break;
            case JsonTokenType.True:
                row.Set(slot, IsListed(listed, column) ? ColumnValueKind.Undecodable : ColumnValueKind.Present, "true");
                break;
            case JsonTokenType.False:
                row.Set(slot, IsListed(listed, column) ? ColumnValueKind.Undecodable : ColumnValueKind.Present, "false");
                break;
            case JsonTokenType.Number:
                // The token text as written: exact for int64 beyond 2^53 and for decimals in double/string mode.
                row.SetUtf8(slot, ColumnValueKind.Present, reader.ValueSpan);
                break;
            default:
                var start = (int)reader.TokenStartIndex;
                reader.Skip();
                var raw = rowJson[start..(int)reader.BytesConsumed];
                if (type == JsonTokenType.StartArray && IsUnavailableArray(raw))
                {
                    row.Set(slot, ColumnValueKind.Unavailable, null);
                }
                else if (type == JsonTokenType.StartObject && TryReadVariableScaleDecimal(raw) is { } number)
                {
                    row.Set(slot, ColumnValueKind.Present, number);
                }
                else
                {
                    // A listed decimal column may hold a VariableScaleDecimal struct; any other structure is not a decimal.
                    // An unkept structure's text is never made: compacting cannot fail.
                    row.Set(slot, IsListed(listed, column) ? ColumnValueKind.Undecodable : ColumnValueKind.Present, slot == Unkept ? "" : JsonText.Compact(raw));
                }

                break;
        }
    }

    private static void ReadString<TRow>(
        ref Utf8JsonReader reader, int slot, string? column, bool isDecimal, int scale, IReadOnlySet<string>? listed, ref TRow row)
        where TRow : struct, IRowSink
    {
        if (reader.ValueTextEquals(UnavailableUtf8) || reader.ValueTextEquals(UnavailableBase64Utf8))
        {
            row.Set(slot, ColumnValueKind.Unavailable, null);
            return;
        }

        if (isDecimal && !DecimalColumns.IsRenderableScale(scale))
        {
            throw new ChangeEventFormatException(
                $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal with scale {scale}, beyond the {DecimalColumns.MaxScale} digits any database keeps.");
        }

        byte[]? rented = null;
        try
        {
            var text = JsonText.Unescaped(ref reader, ref rented);
            if (isDecimal)
            {
                row.Set(slot, ColumnValueKind.Present, DecimalColumns.Format(text, scale)
                    ?? throw new ChangeEventFormatException(
                        $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal but its value is not base64."));
                return;
            }

            if (!Utf8.IsValid(text))
            {
                _ = reader.GetString(); // throws InvalidOperationException, as the full read always has
                throw new InvalidOperationException("The text is not valid UTF-8.");
            }

            // Without a schema a listed decimal is rendered only when it is written as a number (string mode);
            // the base64 of precise mode cannot be decoded without the scale.
            row.SetUtf8(slot, IsListed(listed, column) && !IsDecimalText(text) ? ColumnValueKind.Undecodable : ColumnValueKind.Present, text);
        }
        finally
        {
            JsonText.Return(rented);
        }
    }

    private static bool IsListed(IReadOnlySet<string>? listed, string? column) => listed is not null && column is not null && listed.Contains(column);

    /// <summary>
    /// A column the schema declares Decimal that holds no base64 string: a JSON number renders with the column's scale
    /// when that is exact (JsonConverter's <c>decimal.format=NUMERIC</c>); anything else has no faithful rendering, and a
    /// key made of it would be one no application writes, so the record is undecodable.
    /// </summary>
    private static string SchemaDecimal(ref Utf8JsonReader reader, string column, int scale)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            return DecimalColumns.FormatNumber(reader.ValueSpan, scale)
                ?? throw new ChangeEventFormatException(
                    $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal with scale {scale}, but its value " +
                    $"{Quote(Encoding.UTF8.GetString(reader.ValueSpan))} has more digits after the point than that (or is out of range), " +
                    "so no key rendered from it would be the application's.");
        }

        throw new ChangeEventFormatException(
            $"Column '{column}' is declared org.apache.kafka.connect.data.Decimal but its value is a JSON {JsonText.Describe(reader.TokenType)}, not base64.");
    }

    private static string Quote(string text) => text.Length <= 40 ? text : string.Concat(text.AsSpan(0, 40), "...");

    /// <summary>
    /// A decimal as <c>decimal.handling.mode=string</c> writes it (Java's BigDecimal text): an optional sign,
    /// digits with an optional fraction, an optional exponent. Such text is never the base64 of precise mode
    /// unless it is digits only, which the connector's string mode is there to avoid. ASCII only, so its UTF-8 is judged.
    /// </summary>
    private static bool IsDecimalText(ReadOnlySpan<byte> text)
    {
        var i = SkipSign(text, 0);
        var digits = SkipDigits(text, ref i);
        if (i < text.Length && text[i] == (byte)'.')
        {
            i++;
            digits += SkipDigits(text, ref i);
        }

        if (digits == 0)
        {
            return false;
        }

        if (i < text.Length && text[i] is (byte)'e' or (byte)'E')
        {
            i = SkipSign(text, i + 1);
            if (SkipDigits(text, ref i) == 0)
            {
                return false;
            }
        }

        return i == text.Length;
    }

    private static int SkipSign(ReadOnlySpan<byte> text, int i) => i < text.Length && text[i] is (byte)'+' or (byte)'-' ? i + 1 : i;

    private static int SkipDigits(ReadOnlySpan<byte> text, ref int i)
    {
        var start = i;
        while (i < text.Length && char.IsAsciiDigit((char)text[i]))
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

/// <summary>What <see cref="RowImageReader.Read"/> did.</summary>
internal enum RowRead
{
    /// <summary>No row: the segment is absent or JSON null.</summary>
    Absent,

    /// <summary>The row was read into the sink.</summary>
    Read,

    /// <summary>The sink declined a column (the one-pass path): decode the record with the full read.</summary>
    Declined,
}
