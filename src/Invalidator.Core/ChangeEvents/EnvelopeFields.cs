using System.Text.Json;

namespace Invalidator.Core.ChangeEvents;

/// <summary>
/// One pass over a JSON object that notes where the fields the decoder cares about are: the converter
/// wrapper (<c>schema</c>/<c>payload</c>), the Debezium envelope, transaction metadata and the fields that
/// the ExtractNewRecordState SMT adds. Everything else is skipped without allocating.
/// </summary>
internal struct EnvelopeFields
{
    public JsonSegment Object;
    public int PropertyCount;
    public int WrapperPropertyCount;

    public JsonSegment Schema;
    public JsonSegment Payload;

    public JsonSegment Op;
    public JsonSegment Before;
    public JsonSegment After;
    public JsonSegment Source;
    public JsonSegment Message;
    public long? TsMs;
    public long? TsUs;
    public long? TsNs;

    public JsonSegment Status;
    public JsonSegment Id;

    /// <summary>Any field whose name starts with <c>__</c>: metadata added by the unwrap SMT.</summary>
    public bool HasUnwrapMetadata;
    public bool Deleted;
    public JsonSegment UnwrapOp;
    public long? UnwrapSourceTsMs;
    public long? UnwrapSourceTsUs;
    public long? UnwrapSourceTsNs;
    public long? UnwrapTsMs;
    public long? UnwrapTsUs;
    public long? UnwrapTsNs;

    /// <summary>
    /// JsonConverter with <c>schemas.enable=true</c> writes exactly <c>{"schema":...,"payload":...}</c>;
    /// some tools drop the schema or write it as null. Anything else is the bare value.
    /// </summary>
    public readonly bool IsWrapper => Payload.IsPresent && PropertyCount == WrapperPropertyCount;

    public readonly bool HasEnvelopeFields => Before.IsPresent || After.IsPresent || Source.IsPresent || Message.IsPresent;

    public static EnvelopeFields Scan(ReadOnlySpan<byte> json, JsonSegment obj)
    {
        var reader = obj.Open(json);
        return Scan(ref reader, obj.Start);
    }

    /// <summary>Scans the object the reader is on (its StartObject) and leaves the reader on its EndObject.</summary>
    public static EnvelopeFields Scan(ref Utf8JsonReader reader, int baseOffset)
    {
        var fields = default(EnvelopeFields);
        var start = (int)reader.TokenStartIndex;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            fields.PropertyCount++;
            fields.Read(ref reader, baseOffset);
        }

        fields.Object = new JsonSegment(baseOffset + start, (int)reader.BytesConsumed - start, JsonTokenType.StartObject);
        return fields;
    }

    private void Read(ref Utf8JsonReader reader, int baseOffset)
    {
        if (reader.ValueTextEquals("schema"u8))
        {
            WrapperPropertyCount++;
            reader.Read();
            Schema = JsonSegment.Take(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("payload"u8))
        {
            WrapperPropertyCount++;
            reader.Read();
            Payload = JsonSegment.Take(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("op"u8))
        {
            Op = TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("before"u8))
        {
            Before = TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("after"u8))
        {
            After = TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("source"u8))
        {
            Source = TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("message"u8))
        {
            Message = TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("ts_ms"u8))
        {
            TsMs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("ts_us"u8))
        {
            TsUs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("ts_ns"u8))
        {
            TsNs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("status"u8))
        {
            Status = TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("id"u8))
        {
            Id = TakeNext(ref reader, baseOffset);
        }
        else if (IsMetadataName(ref reader))
        {
            HasUnwrapMetadata = true;
            ReadUnwrapMetadata(ref reader, baseOffset);
        }
        else
        {
            reader.Read();
            reader.Skip();
        }
    }

    private void ReadUnwrapMetadata(ref Utf8JsonReader reader, int baseOffset)
    {
        if (reader.ValueTextEquals("__deleted"u8))
        {
            reader.Read();
            // delete.handling.mode=rewrite writes the string "true"; some converters turn it into a boolean.
            Deleted = reader.TokenType == JsonTokenType.True
                || (reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("true"u8));
            reader.Skip();
        }
        else if (reader.ValueTextEquals("__op"u8))
        {
            UnwrapOp = TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("__source_ts_ms"u8))
        {
            UnwrapSourceTsMs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("__source_ts_us"u8))
        {
            UnwrapSourceTsUs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("__source_ts_ns"u8))
        {
            UnwrapSourceTsNs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("__ts_ms"u8))
        {
            UnwrapTsMs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("__ts_us"u8))
        {
            UnwrapTsUs = ReadInt64(ref reader);
        }
        else if (reader.ValueTextEquals("__ts_ns"u8))
        {
            UnwrapTsNs = ReadInt64(ref reader);
        }
        else
        {
            reader.Read();
            reader.Skip();
        }
    }

    /// <summary>True when the property name the reader is on starts with <c>__</c> (unwrap SMT metadata).</summary>
    public static bool IsMetadataName(ref Utf8JsonReader reader) =>
        reader.ValueIsEscaped
            ? reader.GetString()!.StartsWith("__", StringComparison.Ordinal)
            : reader.ValueSpan.StartsWith("__"u8);

    private static JsonSegment TakeNext(ref Utf8JsonReader reader, int baseOffset)
    {
        reader.Read();
        return JsonSegment.Take(ref reader, baseOffset);
    }

    /// <summary>Reads the next value as a 64-bit integer; null (or anything that is not an integer) gives null.</summary>
    public static long? ReadInt64(ref Utf8JsonReader reader)
    {
        reader.Read();
        long? value = reader.TokenType == JsonTokenType.Number && reader.TryGetInt64(out var number) ? number : null;
        reader.Skip();
        return value;
    }
}

/// <summary>The fields of Debezium's <c>source</c> block that name the table and date the commit.</summary>
internal struct SourceFields
{
    public JsonSegment Schema;
    public JsonSegment Table;
    public JsonSegment Db;
    public long? TsMs;
    public long? TsUs;
    public long? TsNs;

    public static SourceFields Scan(ReadOnlySpan<byte> json, JsonSegment source)
    {
        var fields = default(SourceFields);
        if (!source.IsObject)
        {
            return fields;
        }

        var reader = source.Open(json);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            if (reader.ValueTextEquals("schema"u8))
            {
                reader.Read();
                fields.Schema = JsonSegment.Take(ref reader, source.Start);
            }
            else if (reader.ValueTextEquals("table"u8))
            {
                reader.Read();
                fields.Table = JsonSegment.Take(ref reader, source.Start);
            }
            else if (reader.ValueTextEquals("db"u8))
            {
                reader.Read();
                fields.Db = JsonSegment.Take(ref reader, source.Start);
            }
            else if (reader.ValueTextEquals("ts_ms"u8))
            {
                fields.TsMs = EnvelopeFields.ReadInt64(ref reader);
            }
            else if (reader.ValueTextEquals("ts_us"u8))
            {
                fields.TsUs = EnvelopeFields.ReadInt64(ref reader);
            }
            else if (reader.ValueTextEquals("ts_ns"u8))
            {
                fields.TsNs = EnvelopeFields.ReadInt64(ref reader);
            }
            else
            {
                reader.Read();
                reader.Skip();
            }
        }

        return fields;
    }
}
