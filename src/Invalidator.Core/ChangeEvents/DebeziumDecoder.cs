using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Json;
using System.Text.Unicode;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// Decodes a Kafka record written by Debezium through Kafka Connect's JsonConverter (with or without
/// schemas, raw envelope or ExtractNewRecordState output) into a <see cref="DecodedRecord"/>.
/// </summary>
/// <remarks>
/// Streams the bytes with <see cref="Utf8JsonReader"/>: real schemas are several KB and only their Decimal
/// fields matter, so no document tree is built and skipped columns cost no strings.
/// A record that cannot be read throws <see cref="ChangeEventFormatException"/> whose message is one
/// sentence saying what is wrong: it becomes the dead-letter reason.
/// </remarks>
public static class DebeziumDecoder
{
    private const string HeartbeatTopicPrefix = "__debezium-heartbeat";
    private const string TransactionTopicSuffix = ".transaction";
    private const int MaxQuotedLength = 40;
    private const int MaxNameBytes = 256;

    public static DecodedRecord Decode(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        ArgumentNullException.ThrowIfNull(topic);

        if (topic.StartsWith(HeartbeatTopicPrefix, StringComparison.Ordinal))
        {
            return DecodedRecord.Heartbeat;
        }

        if (value.IsEmpty)
        {
            return DecodedRecord.Tombstone;
        }

        if (topic.EndsWith(TransactionTopicSuffix, StringComparison.Ordinal))
        {
            return DecodedRecord.TransactionMetadata;
        }

        try
        {
            return DecodeValue(topic, key, value);
        }
        catch (InvalidOperationException ex)
        {
            // Utf8JsonReader.GetString throws this for strings that are not valid UTF-8.
            throw new ChangeEventFormatException($"The value contains text that is not valid UTF-8 ({ex.Message}).", ex);
        }
    }

    private static DecodedRecord DecodeValue(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        var rootType = ScanRoot(value, "value", out var fields);
        if (rootType == JsonTokenType.Null)
        {
            return DecodedRecord.Tombstone;
        }

        if (rootType != JsonTokenType.StartObject)
        {
            throw new ChangeEventFormatException(
                $"The value is a JSON {JsonText.Describe(rootType)}, not the JSON object of a Debezium change event.");
        }

        var schema = default(JsonSegment);
        if (fields.IsWrapper)
        {
            // {"schema":...,"payload":null} is how older JsonConverters rendered a tombstone.
            if (fields.Payload.IsNull)
            {
                return DecodedRecord.Tombstone;
            }

            if (!fields.Payload.IsObject)
            {
                throw new ChangeEventFormatException(
                    $"The value's payload is a JSON {JsonText.Describe(fields.Payload.Type)}, not an object.");
            }

            schema = fields.Schema;
            fields = EnvelopeFields.Scan(value, fields.Payload);
        }

        if (fields.Op.IsPresent)
        {
            return DecodedRecord.Of(DecodeEnvelope(topic, key, value, schema, fields));
        }

        if (IsTransactionMetadata(value, fields))
        {
            return DecodedRecord.TransactionMetadata;
        }

        if (fields.HasEnvelopeFields)
        {
            throw new ChangeEventFormatException(
                "The value has Debezium envelope fields (before, after, source or message) but no 'op'.");
        }

        if (fields.PropertyCount == 0)
        {
            throw new ChangeEventFormatException(
                "The value is an empty JSON object, neither a Debezium envelope with 'op' nor an unwrapped row.");
        }

        return DecodedRecord.Of(DecodeUnwrapped(topic, key, value, schema, fields));
    }

    private static ChangeEvent DecodeEnvelope(
        string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, JsonSegment schema, EnvelopeFields fields)
    {
        var operation = ParseOperation(value, fields.Op, "op");
        var source = SourceFields.Scan(value, fields.Source);
        var table = TableName(topic, value, source);
        var commitTime = Time(source.TsUs, source.TsNs, source.TsMs)
            ?? Time(fields.TsUs, fields.TsNs, fields.TsMs); // Debezium's processing time, when the source has none

        RowImage? before = null, after = null;
        string? prefix = null, content = null;
        switch (operation)
        {
            case ChangeOperation.Truncate:
                break;
            case ChangeOperation.Message:
                (prefix, content) = ReadMessage(value, fields.Message);
                break;
            default:
                var decimals = DecimalColumns.Find(value, schema);
                before = RowImageReader.Read(value, fields.Before, "'before' image", decimals, RowScope.Before, skipMetadata: false);
                after = RowImageReader.Read(value, fields.After, "'after' image", decimals, RowScope.After, skipMetadata: false);
                break;
        }

        return new ChangeEvent(table, operation, before, after, DecodeKey(key), commitTime)
        {
            MessagePrefix = prefix,
            MessageContent = content,
        };
    }

    /// <summary>ExtractNewRecordState output: the row itself, plus optional <c>__</c> metadata fields.</summary>
    private static ChangeEvent DecodeUnwrapped(
        string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, JsonSegment schema, EnvelopeFields fields)
    {
        // Without __deleted or __op the SMT does not say what happened. Update is the honest guess: the
        // row exists now, and the invalidator treats create, update and read alike (delete the row's keys).
        var operation = fields.Deleted ? ChangeOperation.Delete
            : fields.UnwrapOp.IsPresent ? ParseOperation(value, fields.UnwrapOp, "__op")
            : ChangeOperation.Update;

        RowImage? before = null, after = null;
        if (operation != ChangeOperation.Truncate)
        {
            var decimals = DecimalColumns.Find(value, schema);
            var row = RowImageReader.Read(value, fields.Object, "unwrapped row", decimals, RowScope.Root, skipMetadata: true);
            // A rewritten delete carries the old row (what to invalidate) in place of the new one.
            if (operation == ChangeOperation.Delete)
            {
                before = row;
            }
            else
            {
                after = row;
            }
        }

        var commitTime = Time(fields.UnwrapSourceTsUs, fields.UnwrapSourceTsNs, fields.UnwrapSourceTsMs)
            ?? Time(fields.UnwrapTsUs, fields.UnwrapTsNs, fields.UnwrapTsMs);
        return new ChangeEvent(TableFromTopic(topic), operation, before, after, DecodeKey(key), commitTime);
    }

    /// <summary>The key's fields as a row; null when there is no key. Keys may be wrapped like values.</summary>
    private static RowImage? DecodeKey(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty)
        {
            return null;
        }

        try
        {
            var rootType = ScanRoot(key, "key", out var fields);
            if (rootType == JsonTokenType.Null)
            {
                return null;
            }

            if (rootType != JsonTokenType.StartObject)
            {
                throw new ChangeEventFormatException(
                    $"The key is a JSON {JsonText.Describe(rootType)}, not the JSON object of a Debezium key.");
            }

            var row = fields.IsWrapper ? fields.Payload : fields.Object;
            var schema = fields.IsWrapper ? fields.Schema : default;
            return RowImageReader.Read(key, row, "key", DecimalColumns.Find(key, schema), RowScope.Root, skipMetadata: false);
        }
        catch (InvalidOperationException ex)
        {
            throw new ChangeEventFormatException($"The key contains text that is not valid UTF-8 ({ex.Message}).", ex);
        }
    }

    /// <summary>
    /// The one pass that validates the whole document (nothing may follow the root value); when the root
    /// is an object it is scanned on the way. Later reads of parts of it cannot fail on syntax.
    /// </summary>
    private static JsonTokenType ScanRoot(ReadOnlySpan<byte> json, string part, out EnvelopeFields fields)
    {
        try
        {
            var reader = new Utf8JsonReader(json, JsonText.ReaderOptions);
            reader.Read();
            var type = reader.TokenType;
            if (type == JsonTokenType.StartObject)
            {
                fields = EnvelopeFields.Scan(ref reader, 0);
            }
            else
            {
                fields = default;
                reader.Skip();
            }

            reader.Read(); // throws when anything but whitespace follows
            return type;
        }
        catch (JsonException ex)
        {
            var hint = json[0] == 0 && json.Length >= 5
                ? " (it starts with a zero byte, like Schema Registry's Avro/Protobuf wire format)"
                : "";
            throw new ChangeEventFormatException($"The {part} is not valid JSON{hint}: {ex.Message}", ex);
        }
    }

    private static ChangeOperation ParseOperation(ReadOnlySpan<byte> json, JsonSegment op, string field)
    {
        if (op.Type != JsonTokenType.String)
        {
            throw new ChangeEventFormatException(
                $"The '{field}' field is a JSON {JsonText.Describe(op.Type)} where a one-letter operation code was expected.");
        }

        var reader = op.Open(json);
        var code = NameCache.Get(ref reader);
        if (ChangeOperationCodes.TryParse(code, out var operation))
        {
            return operation;
        }

        throw new ChangeEventFormatException(
            $"The record has unknown op '{Quote(code!)}' in '{field}'; expected one of c, u, d, r, t, m.");
    }

    private static bool IsTransactionMetadata(ReadOnlySpan<byte> json, EnvelopeFields fields) =>
        fields.Id.IsPresent
        && !fields.HasUnwrapMetadata // an unwrapped row of a table with status and id columns
        && (fields.Status.TextEquals(json, "BEGIN"u8) || fields.Status.TextEquals(json, "END"u8));

    /// <summary>
    /// <c>schema.table</c> from the source block; MySQL has no schema, so <c>db.table</c>. Without either
    /// (unwrapped rows, logical messages) the topic's last two segments, which Debezium names
    /// <c>prefix.schema.table</c>.
    /// </summary>
    private static string TableName(string topic, ReadOnlySpan<byte> json, SourceFields source)
    {
        var schema = source.Schema.IsNonEmptyString ? source.Schema : source.Db;
        return source.Table.IsNonEmptyString && schema.IsNonEmptyString
            ? Qualified(json, schema, source.Table)
            : TableFromTopic(topic);
    }

    /// <summary><c>schema.table</c>, from the name cache when both names are plain (as real ones are).</summary>
    private static string Qualified(ReadOnlySpan<byte> json, JsonSegment schema, JsonSegment table)
    {
        var schemaText = schema.Of(json)[1..^1]; // the token without its quotes
        var tableText = table.Of(json)[1..^1];
        var length = schemaText.Length + 1 + tableText.Length;
        if (length <= MaxNameBytes && !schemaText.Contains((byte)'\\') && !tableText.Contains((byte)'\\'))
        {
            Span<byte> utf8 = stackalloc byte[MaxNameBytes];
            schemaText.CopyTo(utf8);
            utf8[schemaText.Length] = (byte)'.';
            tableText.CopyTo(utf8[(schemaText.Length + 1)..]);
            if (NameCache.Get(utf8[..length]) is { } name)
            {
                return name;
            }
        }

        return string.Concat(schema.GetString(json), ".", table.GetString(json));
    }

    private static string TableFromTopic(string topic)
    {
        var last = topic.LastIndexOf('.');
        var previous = last <= 0 ? -1 : topic.LastIndexOf('.', last - 1);
        var table = topic.AsSpan(previous + 1);
        if (table.Length > MaxNameBytes / 3)
        {
            return table.ToString();
        }

        Span<byte> utf8 = stackalloc byte[MaxNameBytes];
        return NameCache.Get(utf8[..Encoding.UTF8.GetBytes(table, utf8)]) ?? table.ToString();
    }

    /// <summary>The most precise of the three timestamps that is present, as UTC.</summary>
    private static DateTimeOffset? Time(long? micros, long? nanos, long? millis)
    {
        if (micros is { } us)
        {
            return DateTimeOffset.UnixEpoch.AddTicks(us * (TimeSpan.TicksPerMillisecond / 1000));
        }

        if (nanos is { } ns)
        {
            return DateTimeOffset.UnixEpoch.AddTicks(ns / 100);
        }

        return millis is { } ms ? DateTimeOffset.FromUnixTimeMilliseconds(ms) : null;
    }

    /// <summary>
    /// A logical decoding message's prefix and content. The content is base64 of arbitrary bytes:
    /// decoded to text when it is UTF-8 (usually JSON), otherwise kept as the base64 the connector sent.
    /// </summary>
    private static (string? Prefix, string? Content) ReadMessage(ReadOnlySpan<byte> json, JsonSegment message)
    {
        if (!message.IsObject)
        {
            return (null, null);
        }

        string? prefix = null, content = null;
        var reader = message.Open(json);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("prefix"u8))
            {
                reader.Read();
                prefix = reader.TokenType == JsonTokenType.String ? reader.GetString() : null;
            }
            else if (reader.ValueTextEquals("content"u8))
            {
                reader.Read();
                content = reader.TokenType == JsonTokenType.String ? DecodeMessageContent(ref reader) : null;
            }

            reader.Skip();
        }

        return (prefix, content);
    }

    private static string DecodeMessageContent(ref Utf8JsonReader reader)
    {
        byte[]? rented = null;
        byte[]? decoded = null;
        try
        {
            var base64 = JsonText.Unescaped(ref reader, ref rented);
            decoded = ArrayPool<byte>.Shared.Rent(Base64.GetMaxDecodedFromUtf8Length(base64.Length));
            if (Base64.DecodeFromUtf8(base64, decoded, out _, out var written) == OperationStatus.Done
                && Utf8.IsValid(decoded.AsSpan(0, written)))
            {
                return Encoding.UTF8.GetString(decoded, 0, written);
            }

            return reader.GetString()!;
        }
        finally
        {
            JsonText.Return(rented);
            JsonText.Return(decoded);
        }
    }

    private static string Quote(string text) =>
        text.Length <= MaxQuotedLength ? text : string.Concat(text.AsSpan(0, MaxQuotedLength), "...");
}
