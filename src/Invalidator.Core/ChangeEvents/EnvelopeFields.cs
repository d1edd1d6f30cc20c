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

    /// <summary>Properties named like the fields of a Debezium envelope (op, before, after, source, ...).</summary>
    public int EnvelopeNameCount;

    public JsonSegment Schema;
    public JsonSegment Payload;

    public JsonSegment Op;
    public JsonSegment Before;
    public JsonSegment After;
    public JsonSegment Source;
    public JsonSegment Message;
    public JsonSegment Transaction;
    public Timestamps Ts;

    /// <summary><see cref="Source"/>'s fields, read as the scan passed over it, when <see cref="HasSourceScan"/>.</summary>
    public SourceFields SourceScan;
    public bool HasSourceScan;

    // Transaction metadata: {status, id, event_count, data_collections, ts_ms}.
    public JsonSegment Status;
    public JsonSegment Id;
    public bool HasEventCount;
    public bool HasDataCollections;

    // Schema-change events of relational connectors: {source, ts_ms, databaseName, schemaName, ddl, tableChanges}.
    public bool HasDatabaseName;
    public bool HasDdl;
    public bool HasTableChanges;

    // Debezium's MongoDB connector: an update's changed fields (change streams), or its patch and filter (1.x oplog mode).
    public JsonSegment UpdateDescription;
    public JsonSegment Patch;
    public JsonSegment Filter;

    // flink-cdc's schema-change records (JsonDebeziumDeserializationSchema with includeSchemaChanges): {source, historyRecord}.
    public JsonSegment HistoryRecord;

    /// <summary>Any field whose name starts with <c>__</c>: metadata added by the unwrap SMT.</summary>
    public bool HasUnwrapMetadata;
    public bool Deleted;
    public JsonSegment UnwrapOp;
    public Timestamps UnwrapSourceTs;
    public Timestamps UnwrapTs;

    /// <summary>
    /// JsonConverter with <c>schemas.enable=true</c> writes exactly <c>{"schema":...,"payload":...}</c>;
    /// some tools drop the schema or write it as null. Anything else is the bare value.
    /// </summary>
    public readonly bool IsWrapper => Payload.IsPresent && PropertyCount == WrapperPropertyCount;

    /// <summary>The part's own object: a <c>{schema, payload}</c> wrapper's payload, else the object itself (keys are wrapped like values).</summary>
    public readonly JsonSegment Body => IsWrapper ? Payload : Object;

    /// <summary>
    /// The structure of a Debezium envelope: no unwrap metadata, nothing but envelope fields, at least one of
    /// op, before, after, source or message, and each of them of the envelope's type (op a string; the images,
    /// source, message and transaction objects or null). A row whose columns merely share some of these names
    /// has other columns too (its key, at least) or the wrong types, so it is not taken for one.
    /// </summary>
    public readonly bool LooksLikeEnvelope =>
        !HasUnwrapMetadata
        && EnvelopeNameCount == PropertyCount
        && (Op.IsPresent || Before.IsPresent || After.IsPresent || Source.IsPresent || Message.IsPresent)
        && (!Op.IsPresent || Op.Type is JsonTokenType.String or JsonTokenType.Null)
        && IsObjectOrNull(Before) && IsObjectOrNull(After) && IsObjectOrNull(Source)
        && IsObjectOrNull(Message) && IsObjectOrNull(Transaction);

    /// <summary>
    /// An envelope whether or not it has fields of its own beside the envelope's: <see cref="LooksLikeEnvelope"/>, or
    /// <see cref="HasExtendedEnvelopeShape"/>.
    /// </summary>
    public readonly bool IsEnvelope(ReadOnlySpan<byte> json) => LooksLikeEnvelope || HasExtendedEnvelopeShape(json);

    /// <summary>
    /// An envelope with other fields beside the envelope's (Scylla's connector adds <c>key</c>, an InsertField SMT adds a
    /// field of its choice): no unwrap metadata, an op that is one of Debezium's codes, before and after both present as
    /// objects or null, and source an object. A row would need columns named op, before, after and source holding exactly
    /// these types; such a table states <c>format: unwrapped</c>.
    /// </summary>
    public readonly bool HasExtendedEnvelopeShape(ReadOnlySpan<byte> json) =>
        !HasUnwrapMetadata
        && Source.IsObject
        && Before.IsPresent && After.IsPresent && IsObjectOrNull(Before) && IsObjectOrNull(After)
        && IsObjectOrNull(Message) && IsObjectOrNull(Transaction)
        && IsOperationCode(json, Op);

    /// <summary>A one-letter string that is one of Debezium's op codes (c, u, d, r, t, m), written without escapes.</summary>
    private static bool IsOperationCode(ReadOnlySpan<byte> json, JsonSegment op) =>
        op.Type == JsonTokenType.String && op.Length == 3 && "cudrtm"u8.Contains(json[op.Start + 1]);

    /// <summary>
    /// What a MongoDB connector's event may be (its documents are JSON strings, never objects): an op, a source block and
    /// no unwrap metadata. <see cref="SourceFields.IsMongoDb"/> decides.
    /// </summary>
    public readonly bool MayBeMongoDb =>
        !HasUnwrapMetadata && Source.IsObject && Op.Type == JsonTokenType.String && !Before.IsObject && !After.IsObject;

    /// <summary>Debezium's transaction metadata: a BEGIN/END status, an id, and the event counts.</summary>
    public readonly bool HasTransactionShape(ReadOnlySpan<byte> json) =>
        !HasUnwrapMetadata && Id.IsPresent && (Status.TextEquals(json, "BEGIN"u8) || Status.TextEquals(json, "END"u8));

    /// <summary>
    /// flink-cdc's schema change: a <c>historyRecord</c> (Debezium's schema history entry as a JSON string, or as an
    /// object) that holds a <c>ddl</c> or <c>tableChanges</c>, beside nothing but envelope fields other than op, before
    /// and after (flink-cdc writes <c>source</c>).
    /// </summary>
    public readonly bool HasHistoryRecordShape(ReadOnlySpan<byte> json) =>
        !HasUnwrapMetadata
        && HistoryRecord.Type is JsonTokenType.String or JsonTokenType.StartObject
        && PropertyCount == EnvelopeNameCount + 1
        && !Op.IsPresent && !Before.IsPresent && !After.IsPresent
        && (HistoryRecord.Of(json).IndexOf("ddl"u8) >= 0 || HistoryRecord.Of(json).IndexOf("tableChanges"u8) >= 0);

    /// <summary>Debezium's heartbeat value: <c>{"ts_ms": ...}</c> and nothing else.</summary>
    public readonly bool HasHeartbeatShape(ReadOnlySpan<byte> json) => PropertyCount == 1 && Ts.HasMillis(json);

    /// <summary><see cref="Source"/>'s fields: as the scan read them, or read now.</summary>
    public readonly SourceFields SourceFieldsOf(ReadOnlySpan<byte> json) => HasSourceScan ? SourceScan : SourceFields.Scan(json, Source);

    private static bool IsObjectOrNull(JsonSegment segment) => !segment.IsPresent || segment.IsObject || segment.IsNull;

    public static EnvelopeFields Scan(ReadOnlySpan<byte> json, JsonSegment obj, RowPrefill? prefill = null)
    {
        var reader = obj.Open(json);
        return Scan(ref reader, obj.Start, prefill, obj.Of(json));
    }

    /// <summary>Scans the object the reader is on (its StartObject) and leaves the reader on its EndObject.</summary>
    public static EnvelopeFields Scan(ref Utf8JsonReader reader, int baseOffset) => Scan(ref reader, baseOffset, null, default);

    /// <summary>
    /// Scans the object the reader is on (its StartObject) and leaves the reader on its EndObject. With a
    /// <paramref name="prefill"/>, before and after objects are read into its rows as the scan passes over them
    /// (<paramref name="readerJson"/> is the text the reader reads, at <paramref name="baseOffset"/> of the record).
    /// </summary>
    public static EnvelopeFields Scan(ref Utf8JsonReader reader, int baseOffset, RowPrefill? prefill, ReadOnlySpan<byte> readerJson)
    {
        var fields = default(EnvelopeFields);
        var start = (int)reader.TokenStartIndex;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            fields.PropertyCount++;
            fields.Read(ref reader, baseOffset, prefill, readerJson);
        }

        fields.Object = new JsonSegment(baseOffset + start, (int)reader.BytesConsumed - start, JsonTokenType.StartObject);
        return fields;
    }

    private void Read(ref Utf8JsonReader reader, int baseOffset, RowPrefill? prefill, ReadOnlySpan<byte> readerJson)
    {
        // Dispatch on the name's first byte: rows have many columns, and most match none of the names below.
        Span<byte> unescaped = stackalloc byte[MaxKnownNameLength];
        scoped ReadOnlySpan<byte> name;
        if (!reader.ValueIsEscaped)
        {
            name = reader.ValueSpan;
        }
        else if (reader.ValueSpan.Length <= MaxKnownNameLength)
        {
            name = unescaped[..reader.CopyString(unescaped)];
        }
        else
        {
            name = IsMetadataName(ref reader) ? "__"u8 : default;
        }

        if (Ts.TryRead(ref reader, name, default, baseOffset))
        {
            EnvelopeNameCount++;
            return;
        }

        switch (name.IsEmpty ? 0 : name[0])
        {
            case (byte)'_' when name.StartsWith("__"u8):
                HasUnwrapMetadata = true;
                ReadUnwrapMetadata(ref reader, name, baseOffset);
                return;
            case (byte)'a' when name.SequenceEqual("after"u8):
                EnvelopeNameCount++;
                After = prefill is null ? JsonSegment.TakeNext(ref reader, baseOffset) : prefill.ReadNext(ChangeImage.After, ref reader, baseOffset, readerJson);
                return;
            case (byte)'b' when name.SequenceEqual("before"u8):
                EnvelopeNameCount++;
                Before = prefill is null ? JsonSegment.TakeNext(ref reader, baseOffset) : prefill.ReadNext(ChangeImage.Before, ref reader, baseOffset, readerJson);
                return;
            case (byte)'d':
                HasDatabaseName |= name.SequenceEqual("databaseName"u8);
                HasDdl |= name.SequenceEqual("ddl"u8);
                HasDataCollections |= name.SequenceEqual("data_collections"u8);
                break;
            case (byte)'e':
                HasEventCount |= name.SequenceEqual("event_count"u8);
                break;
            case (byte)'h' when name.SequenceEqual("historyRecord"u8):
                HistoryRecord = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'f' when name.SequenceEqual("filter"u8):
                Filter = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'i' when name.SequenceEqual("id"u8):
                Id = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'m' when name.SequenceEqual("message"u8):
                EnvelopeNameCount++;
                Message = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'o' when name.SequenceEqual("op"u8):
                EnvelopeNameCount++;
                Op = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'p' when name.SequenceEqual("patch"u8):
                Patch = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'p' when name.SequenceEqual("payload"u8):
                WrapperPropertyCount++;
                Payload = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'s' when name.SequenceEqual("schema"u8):
                WrapperPropertyCount++;
                Schema = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'s' when name.SequenceEqual("source"u8):
                EnvelopeNameCount++;
                reader.Read();
                if (reader.TokenType == JsonTokenType.StartObject)
                {
                    // Read while passing over it, instead of skipped now and read again for the table and commit time.
                    var start = (int)reader.TokenStartIndex;
                    SourceScan = SourceFields.ScanInline(ref reader, baseOffset, out var complete);
                    HasSourceScan = complete;
                    Source = new JsonSegment(baseOffset + start, (int)reader.BytesConsumed - start, JsonTokenType.StartObject);
                }
                else
                {
                    HasSourceScan = false;
                    Source = JsonSegment.Take(ref reader, baseOffset);
                }

                return;
            case (byte)'s' when name.SequenceEqual("status"u8):
                Status = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'t' when name.SequenceEqual("transaction"u8):
                EnvelopeNameCount++;
                Transaction = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
            case (byte)'t':
                HasTableChanges |= name.SequenceEqual("tableChanges"u8);
                break;
            case (byte)'u' when name.SequenceEqual("updateDescription"u8):
                UpdateDescription = JsonSegment.TakeNext(ref reader, baseOffset);
                return;
        }

        reader.Read();
        reader.Skip();
    }

    // Longer than any name matched above ("updateDescription"); longer escaped names are none of them.
    private const int MaxKnownNameLength = 32;

    private void ReadUnwrapMetadata(ref Utf8JsonReader reader, scoped ReadOnlySpan<byte> name, int baseOffset)
    {
        if (name.SequenceEqual("__deleted"u8))
        {
            reader.Read();
            // delete.handling.mode=rewrite writes the string "true"; some converters turn it into a boolean.
            Deleted = reader.TokenType == JsonTokenType.True
                || (reader.TokenType == JsonTokenType.String && reader.ValueTextEquals("true"u8));
            reader.Skip();
        }
        else if (name.SequenceEqual("__op"u8))
        {
            UnwrapOp = JsonSegment.TakeNext(ref reader, baseOffset);
        }
        else if (!UnwrapSourceTs.TryRead(ref reader, name, "__source_"u8, baseOffset) && !UnwrapTs.TryRead(ref reader, name, "__"u8, baseOffset))
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

}

/// <summary>The fields of Debezium's <c>source</c> block that name the table and date the commit.</summary>
internal struct SourceFields
{
    // Room for "ts_ms" even with every character escaped (\uXXXX).
    private const int MaxEscapedTsNameLength = 32;

    public JsonSegment Schema;
    public JsonSegment Table;
    public JsonSegment Db;
    public JsonSegment Connector;

    /// <summary>The MongoDB connector's collection (its table).</summary>
    public JsonSegment Collection;
    public Timestamps Ts;

    /// <summary>Written by Debezium's MongoDB connector (<c>"connector": "mongodb"</c>).</summary>
    public readonly bool IsMongoDb(ReadOnlySpan<byte> json) => Connector.TextEquals(json, "mongodb"u8);

    public static SourceFields Scan(ReadOnlySpan<byte> json, JsonSegment source)
    {
        if (!source.IsObject)
        {
            return default;
        }

        var reader = source.Open(json);
        return Scan(ref reader, source.Start, inline: false, out _);
    }

    /// <summary>
    /// Scans the source object the reader is on (its StartObject) and leaves the reader on its EndObject, as
    /// <see cref="Utf8JsonReader.Skip"/> would: the envelope's scan reads the block once instead of skipping it and reading
    /// it again. <paramref name="complete"/> is false when a name was escaped: then the block is read again with
    /// <see cref="Scan(ReadOnlySpan{byte}, JsonSegment)"/>, which unescapes it (unescaping may throw, skipping does not).
    /// </summary>
    public static SourceFields ScanInline(ref Utf8JsonReader reader, int baseOffset, out bool complete) =>
        Scan(ref reader, baseOffset, inline: true, out complete);

    private static SourceFields Scan(ref Utf8JsonReader reader, int baseOffset, bool inline, out bool complete)
    {
        var fields = default(SourceFields);
        complete = true;
        Span<byte> unescaped = stackalloc byte[MaxEscapedTsNameLength];
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            scoped ReadOnlySpan<byte> name;
            if (!reader.ValueIsEscaped)
            {
                name = reader.ValueSpan;
            }
            else if (inline)
            {
                complete = false;
                reader.Read();
                reader.Skip();
                continue;
            }
            else
            {
                ReadEscaped(ref reader, baseOffset, ref fields, unescaped);
                continue;
            }

            // Dispatch on the length: a source block has a dozen fields or more, and five of them matter.
            switch (name.Length)
            {
                case 2 when name.SequenceEqual("db"u8):
                    fields.Db = JsonSegment.TakeNext(ref reader, baseOffset);
                    continue;
                case 5 when name.SequenceEqual("table"u8):
                    fields.Table = JsonSegment.TakeNext(ref reader, baseOffset);
                    continue;
                case 5:
                    if (fields.Ts.TryRead(ref reader, name, default, baseOffset))
                    {
                        continue;
                    }

                    break;
                case 6 when name.SequenceEqual("schema"u8):
                    fields.Schema = JsonSegment.TakeNext(ref reader, baseOffset);
                    continue;
                case 9 when name.SequenceEqual("connector"u8):
                    fields.Connector = JsonSegment.TakeNext(ref reader, baseOffset);
                    continue;
                case 10 when name.SequenceEqual("collection"u8):
                    fields.Collection = JsonSegment.TakeNext(ref reader, baseOffset);
                    continue;
            }

            reader.Read();
            reader.Skip();
        }

        return fields;
    }

    /// <summary>A field whose name is escaped (rare): compared as the reader unescapes it.</summary>
    private static void ReadEscaped(ref Utf8JsonReader reader, int baseOffset, ref SourceFields fields, scoped Span<byte> unescaped)
    {
        if (reader.ValueTextEquals("schema"u8))
        {
            fields.Schema = JsonSegment.TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("table"u8))
        {
            fields.Table = JsonSegment.TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("db"u8))
        {
            fields.Db = JsonSegment.TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("connector"u8))
        {
            fields.Connector = JsonSegment.TakeNext(ref reader, baseOffset);
        }
        else if (reader.ValueTextEquals("collection"u8))
        {
            fields.Collection = JsonSegment.TakeNext(ref reader, baseOffset);
        }
        else if (!fields.Ts.TryRead(ref reader, reader.ValueSpan.Length <= unescaped.Length ? unescaped[..reader.CopyString(unescaped)] : reader.ValueSpan, default, baseOffset))
        {
            reader.Read();
            reader.Skip();
        }
    }

}
