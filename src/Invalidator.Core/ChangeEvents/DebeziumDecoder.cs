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
/// One read serves both of the worker's paths: it walks the record once and fills a sink (<see cref="IChangeSink"/>), which
/// for <see cref="Decode(string, ReadOnlySpan{byte}, ReadOnlySpan{byte}, DecoderHints)"/> (the full path, what <c>explain</c>
/// shows) records a <see cref="ChangeEvent"/>, and for <see cref="TryDecodeInto"/> (the worker's one-pass path) keeps only
/// the columns the rules use in reusable rows. So both apply every rule the same way.
/// A decoder owns its caches (the last schema of each topic, column and table names) and a row buffer: whoever decodes
/// owns one (the worker's record planner, <c>explain</c>, a benchmark, a test). Not thread-safe.
/// </remarks>
public sealed class DebeziumDecoder
{
    private const string HeartbeatTopicPrefix = "__debezium-heartbeat";
    private const string TransactionTopicSuffix = ".transaction";
    private const int MaxQuotedLength = 40;
    private const int MaxNameBytes = 256;

    private static ReadOnlySpan<byte> HeartbeatSchemaName => "io.debezium.connector.common.Heartbeat"u8;

    private static ReadOnlySpan<byte> TransactionSchemaName => "io.debezium.connector.common.TransactionMetadataValue"u8;

    // io.debezium.connector.mysql.SchemaChangeValue, ...sqlserver.SchemaChangeValue, and so on.
    private static ReadOnlySpan<byte> SchemaChangeSchemaSuffix => ".SchemaChangeValue"u8;

    private readonly NameCache _names = new();
    private readonly SchemaPrefixCache _valueSchemas = new();
    private readonly SchemaPrefixCache _keySchemas = new();
    private readonly TopicTables _topicTables = new();

    // The full decode's row buffer, reused so that building a row costs only the RowImage itself.
    private readonly List<KeyValuePair<string, ColumnValue>> _columns = new(32);

    /// <summary>Decodes a record with nothing known about its table: every record is detected automatically.</summary>
    public DecodedRecord Decode(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) =>
        Decode(topic, key, value, DecoderHints.None);

    /// <summary>Decodes a record, using what the rules say about its table (format, decimals, replica identity).</summary>
    public DecodedRecord Decode(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, DecoderHints hints)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(hints);
        try
        {
            var sink = new RecordingSink(_columns, _names);
            return Read(topic, key, value, hints, ref sink) switch
            {
                RecordKind.Change => DecodedRecord.Of(sink.ToChange()),
                RecordKind.Tombstone => DecodedRecord.TombstoneOf(sink.ToChange()),
                RecordKind.Heartbeat => DecodedRecord.Heartbeat,
                RecordKind.TransactionMetadata => DecodedRecord.TransactionMetadata,
                _ => DecodedRecord.SchemaChange,
            };
        }
        catch (InvalidOperationException ex)
        {
            // Utf8JsonReader.GetString throws this for strings that are not valid UTF-8.
            throw new ChangeEventFormatException($"The value contains text that is not valid UTF-8 ({ex.Message}).", ex);
        }
        catch (Exception ex) when (ex is not (ChangeEventFormatException or OutOfMemoryException))
        {
            // Decoding only reads these bytes: whatever else it throws is about this record, so it is a reason to
            // dead-letter the record, never a crash or a record skipped without a word.
            throw new ChangeEventFormatException($"The record could not be decoded ({ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}).", ex);
        }
    }

    /// <summary>
    /// The worker's path for the common record: a row change of a table with a rule, read by the same read as
    /// <see cref="Decode(string, ReadOnlySpan{byte}, ReadOnlySpan{byte}, DecoderHints)"/> into <paramref name="scratch"/>'s
    /// reusable rows, only the columns the rule uses, so nothing is allocated for it. False for anything else (other record
    /// kinds, a table without a rule, bad input, anything only a whole change serves): decode that record with
    /// <c>Decode</c>, which also says what is wrong.
    /// </summary>
    internal bool TryDecodeInto(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, DecoderHints hints, DecodeScratch scratch)
    {
        scratch.BeginRecord(_topicTables.Guess(topic), _names);
        try
        {
            var sink = new PlanningSink(scratch, _names);
            return Read(topic, key, value, hints, ref sink) == RecordKind.Change;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return false; // the full decode gives the reason
        }
        finally
        {
            _topicTables.Learn(topic, scratch.TableHints);
        }
    }

    /// <summary>The one read of a record: what kind it is, and for a change, the change into <paramref name="sink"/>. Null when the sink declines it.</summary>
    private RecordKind? Read<TSink>(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, DecoderHints hints, ref TSink sink)
        where TSink : struct, IChangeSink
    {
        if (topic.StartsWith(HeartbeatTopicPrefix, StringComparison.Ordinal))
        {
            return RecordKind.Heartbeat;
        }

        if (value.IsEmpty)
        {
            return Tombstone(topic, key, hints, ref sink);
        }

        // A table may be called "transaction": its topic <prefix>.<schema>.transaction carries rows.
        if (topic.EndsWith(TransactionTopicSuffix, StringComparison.Ordinal) && !hints.HasRule(TableFromTopic(topic)))
        {
            return RecordKind.TransactionMetadata;
        }

        // Most records repeat their topic's last schema byte for byte: then only the payload is read.
        var prefill = sink.Prefill;
        if (!_valueSchemas.TryScan(topic, value, out var schema, out var fields, out var decimals, prefill))
        {
            prefill?.BeginScan(null); // a bare envelope has no schema, so no decimals
            var rootType = ScanRoot(value, "value", out fields, prefill);
            if (rootType == JsonTokenType.Null)
            {
                return Tombstone(topic, key, hints, ref sink);
            }

            if (rootType != JsonTokenType.StartObject)
            {
                throw new ChangeEventFormatException(
                    $"The value is a JSON {JsonText.Describe(rootType)}, not the JSON object of a Debezium change event.");
            }

            schema = default;
            decimals = null; // a bare envelope has no schema
            if (fields.IsWrapper)
            {
                // {"schema":...,"payload":null} is how older JsonConverters rendered a tombstone.
                if (fields.Payload.IsNull)
                {
                    return Tombstone(topic, key, hints, ref sink);
                }

                if (!fields.Payload.IsObject)
                {
                    throw new ChangeEventFormatException(
                        $"The value's payload is a JSON {JsonText.Describe(fields.Payload.Type)}, not an object.");
                }

                schema = fields.Schema;
                decimals = DecimalColumns.Find(value, schema);
                prefill?.BeginScan(decimals);
                fields = EnvelopeFields.Scan(value, fields.Payload, prefill);
            }

            _valueSchemas.Remember(topic, value, schema, decimals);
        }

        // The table the topic is named after: computed only when a hint or a rare record kind needs it.
        string? topicTable = null;
        if (fields.MayBeMongoDb && fields.SourceFieldsOf(value) is var mongoSource && mongoSource.IsMongoDb(value)
            && (!hints.HasFormats || hints.For(topicTable ??= TableFromTopic(topic))?.Format != RecordFormat.Unwrapped))
        {
            if (!sink.TakesEveryRecord)
            {
                return null;
            }

            sink.Whole(DecodeMongoDb(topic, key, value, fields, mongoSource));
            return RecordKind.Change;
        }

        var looksLikeEnvelope = fields.IsEnvelope(value);
        if (!looksLikeEnvelope && Special(topic, ref topicTable, key, value, schema, fields, hints) is { } special)
        {
            return special;
        }

        var format = hints.HasFormats ? hints.For(topicTable ??= TableFromTopic(topic))?.Format ?? RecordFormat.Auto : RecordFormat.Auto;
        if (format == RecordFormat.Envelope || (format == RecordFormat.Auto && looksLikeEnvelope))
        {
            return ReadEnvelope(topic, key, value, decimals, fields, hints, format, ref sink);
        }

        if (fields.PropertyCount == 0)
        {
            throw new ChangeEventFormatException(
                "The value is an empty JSON object, neither a Debezium envelope with 'op' nor an unwrapped row.");
        }

        return ReadUnwrapped(topic, topicTable ?? TableFromTopic(topic), key, value, decimals, fields, hints, ref sink);
    }

    /// <summary>
    /// Heartbeats (by schema name, or a value of only ts_ms with a key of only serverName), flink-cdc's schema changes
    /// (a historyRecord), and, unless the topic's table has a rule, transaction metadata and schema-change events by
    /// their full shape. Null for a row.
    /// </summary>
    private RecordKind? Special(
        string topic, ref string? topicTable, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, JsonSegment schema, EnvelopeFields fields, DecoderHints hints)
    {
        if (fields.HasHeartbeatShape(value) && (SchemaNameIs(value, schema, HeartbeatSchemaName, suffix: false) || KeyIsServerNameOnly(key)))
        {
            return RecordKind.Heartbeat;
        }

        // flink-cdc writes its schema changes to whatever topic carries the table's rows, so a rule does not make
        // this shape a row; only a stated format: unwrapped does.
        if (fields.HasHistoryRecordShape(value) && hints.For(topicTable ??= TableFromTopic(topic))?.Format != RecordFormat.Unwrapped)
        {
            return RecordKind.SchemaChange;
        }

        var maybeTransaction = fields.HasTransactionShape(value);
        var maybeSchemaChange = !fields.HasUnwrapMetadata && (fields.HasDatabaseName || fields.HasDdl || fields.HasTableChanges);
        if ((!maybeTransaction && !maybeSchemaChange) || hints.HasRule(topicTable ??= TableFromTopic(topic)))
        {
            return null;
        }

        if (maybeTransaction
            && (fields.HasEventCount || fields.HasDataCollections || SchemaNameIs(value, schema, TransactionSchemaName, suffix: false)))
        {
            return RecordKind.TransactionMetadata;
        }

        if (maybeSchemaChange
            && ((fields.HasDatabaseName && (fields.HasDdl || fields.HasTableChanges)) || SchemaNameIs(value, schema, SchemaChangeSchemaSuffix, suffix: true)))
        {
            return RecordKind.SchemaChange;
        }

        return null;
    }

    /// <summary>A tombstone: the delete of the topic's table that only its record key describes. The full decode's alone.</summary>
    private RecordKind? Tombstone<TSink>(string topic, ReadOnlySpan<byte> key, DecoderHints hints, ref TSink sink)
        where TSink : struct, IChangeSink
    {
        if (!sink.TakesEveryRecord)
        {
            return null;
        }

        var table = TableFromTopic(topic);
        var tableHints = hints.For(table);
        var keyImage = DecodeKey(topic, key, tableHints);
        if (keyImage is { Count: 1 } && keyImage.TryGet("id", out var id) && id.IsPresent
            && tableHints?.UsedColumns is { } used && used.Contains(MongoDocuments.IdColumn, StringComparer.Ordinal))
        {
            // Debezium's MongoDB key {"id": "<_id as Extended JSON>"}, after a delete or as the unwrap SMT's only record
            // of one: the rule renders _id, which only the key can give.
            keyImage = new RowImage([new("id", id), new(MongoDocuments.IdColumn, MongoDocuments.Id(id.Text!) ?? id)]);
        }

        sink.Whole(new ChangeEvent(table, ChangeOperation.Delete, null, null, keyImage, null));
        return RecordKind.Tombstone;
    }

    /// <summary>
    /// An event of Debezium's MongoDB connector: the documents are JSON strings, read into rows of their top-level
    /// fields, and <c>_id</c> comes from the record key (<c>{"id": "..."}</c>), so a delete without a pre-image still
    /// renders it. An update without the full document (<c>capture.mode=change_streams</c>) has the changed fields
    /// (<c>updateDescription.updatedFields</c>, or the 1.x <c>patch</c>) and <c>_id</c> as its after image: templates of
    /// other fields are reported as unresolved.
    /// </summary>
    private ChangeEvent DecodeMongoDb(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, EnvelopeFields fields, SourceFields source)
    {
        var operation = ParseOperation(value, fields.Op, "op", "");
        var table = source.Db.IsNonEmptyString && source.Collection.IsNonEmptyString
            ? Qualified(value, source.Db, source.Collection)
            : TableFromTopic(topic);
        var commitTime = source.Ts.Instant(value) ?? fields.Ts.Instant(value);
        var keyImage = MongoDbKey(topic, key, value, fields.Filter);
        ColumnValue? id = keyImage is not null && keyImage.TryGet(MongoDocuments.IdColumn, out var keyId) ? keyId : null;

        RowImage? before = null, after = null;
        if (operation is not (ChangeOperation.Truncate or ChangeOperation.Message))
        {
            before = MongoDbDocument(value, fields.Before, "'before' document", id);
            after = MongoDbDocument(value, fields.After, "'after' document", id)
                ?? (operation == ChangeOperation.Update ? MongoDbChanges(value, fields, id) : null);
        }

        return new ChangeEvent(table, operation, before, after, keyImage, commitTime);
    }

    /// <summary>A document field: a JSON string of the document (or the document itself); null when absent or null.</summary>
    private static RowImage? MongoDbDocument(ReadOnlySpan<byte> value, JsonSegment segment, string part, ColumnValue? id) => segment.Type switch
    {
        JsonTokenType.None or JsonTokenType.Null => null,
        JsonTokenType.String => MongoDocuments.Read(segment.GetString(value)!, part, id),
        JsonTokenType.StartObject => MongoDocuments.Read(segment.Of(value), part, id),
        _ => throw new ChangeEventFormatException(
            $"The MongoDB event's {part} is a JSON {JsonText.Describe(segment.Type)} where a document (a JSON string) or null was expected."),
    };

    /// <summary>
    /// What an update without the full document says of the new one: the changed fields (change streams'
    /// <c>updateDescription.updatedFields</c>; the 1.x <c>patch</c>'s <c>$set</c>, or the patch itself when it replaces
    /// the document), with <c>_id</c>. Null when it says nothing.
    /// </summary>
    private static RowImage? MongoDbChanges(ReadOnlySpan<byte> value, EnvelopeFields fields, ColumnValue? id)
    {
        if (fields.UpdateDescription.IsObject)
        {
            var reader = fields.UpdateDescription.Open(value);
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var isUpdated = reader.ValueTextEquals("updatedFields"u8);
                reader.Read();
                if (isUpdated && reader.TokenType is JsonTokenType.String or JsonTokenType.StartObject)
                {
                    var segment = JsonSegment.Take(ref reader, fields.UpdateDescription.Start);
                    return MongoDbDocument(value, segment, "updateDescription.updatedFields", id);
                }

                reader.Skip();
            }
        }

        if (MongoDbDocument(value, fields.Patch, "patch", id) is not { } patch)
        {
            return IdOnly(id);
        }

        if (patch.TryGet("$set", out var set) && set.IsPresent && set.Text!.StartsWith('{'))
        {
            return MongoDocuments.Read(set.Text, "patch's $set", id);
        }

        // A patch without update operators replaces the whole document.
        return patch.ColumnNames.Any(c => c.StartsWith('$')) ? IdOnly(id) : patch;
    }

    private static RowImage? IdOnly(ColumnValue? id) => id is { } value ? new RowImage([new(MongoDocuments.IdColumn, value)]) : null;

    /// <summary>
    /// The document's <c>_id</c> as a key image: from Debezium's MongoDB key (<c>{"id": "..."}</c>, bare or wrapped
    /// with a schema), else from the 1.x <c>filter</c>. A key of another shape is read as any record key.
    /// </summary>
    private RowImage? MongoDbKey(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, JsonSegment filter)
    {
        if (!key.IsEmpty && ScanRoot(key, "key", out var keyFields) == JsonTokenType.StartObject)
        {
            var row = keyFields.Body;
            if (row.IsObject)
            {
                var reader = row.Open(key);
                while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
                {
                    var isId = reader.ValueTextEquals("id"u8);
                    reader.Read();
                    if (isId && reader.TokenType == JsonTokenType.String)
                    {
                        var text = reader.GetString()!;
                        return new RowImage([new(MongoDocuments.IdColumn, MongoDocuments.Id(text) ?? ColumnValue.Of(text))]);
                    }

                    reader.Skip();
                }
            }
        }

        // Another key is read as any record key (JSON null is none; anything else says what is wrong with it).
        if (!key.IsEmpty && DecodeKey(topic, key, null) is { } other)
        {
            return other;
        }

        return MongoDbDocument(value, filter, "filter", null) is { } document && document.TryGet(MongoDocuments.IdColumn, out var id)
            ? new RowImage([new(MongoDocuments.IdColumn, id)])
            : null;
    }

    private RecordKind? ReadEnvelope<TSink>(
        string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, DecimalColumns? decimals, EnvelopeFields fields, DecoderHints hints,
        RecordFormat format, ref TSink sink)
        where TSink : struct, IChangeSink
    {
        var unwrappedHint = format == RecordFormat.Envelope
            ? " The table's rule says format: envelope."
            : " If this topic carries unwrapped rows (ExtractNewRecordState output), say so with format: unwrapped in the table's rule.";
        if (!fields.Op.IsPresent)
        {
            throw new ChangeEventFormatException(
                "The value has Debezium envelope fields (before, after, source or message) but no 'op'." + unwrappedHint);
        }

        var operation = ParseOperation(value, fields.Op, "op", unwrappedHint);
        var source = fields.SourceFieldsOf(value);
        var table = TableName(topic, value, source);
        var tableHints = hints.IsEmpty ? null : hints.For(table);
        var commitTime = source.Ts.Instant(value) ?? fields.Ts.Instant(value); // Debezium's processing time, when the source has none
        if (!sink.Start(table, operation, commitTime, tableHints)
            || ReadKey(topic, key, tableHints, ref sink, countColumns: operation == ChangeOperation.Delete, out var keyColumns) == RowRead.Declined)
        {
            return null;
        }

        switch (operation)
        {
            case ChangeOperation.Truncate:
                break;
            case ChangeOperation.Message:
                var (prefix, content) = ReadMessage(value, fields.Message);
                sink.Message(prefix, content);
                break;
            default:
                // Only whole rows show REPLICA IDENTITY DEFAULT's shape: a delete that may have it is the full decode's.
                if (operation == ChangeOperation.Delete && !sink.TakesEveryRecord && tableHints is { WatchesDefaultIdentity: true }
                    && DefaultIdentityShape.MayMatch(value, fields.Before, keyColumns, decimals, _names))
                {
                    return null;
                }

                if (sink.Row(ChangeImage.Before, value, fields.Before, "'before' image", decimals, RowScope.Before, skipMetadata: false, tableHints, TrustedColumns(tableHints, sink.Key)) == RowRead.Declined
                    || sink.Row(ChangeImage.After, value, fields.After, "'after' image", decimals, RowScope.After, skipMetadata: false, tableHints, null) == RowRead.Declined)
                {
                    return null;
                }

                break;
        }

        return RecordKind.Change;
    }

    /// <summary>ExtractNewRecordState output: the row itself, plus optional <c>__</c> metadata fields.</summary>
    private RecordKind? ReadUnwrapped<TSink>(
        string topic, string table, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, DecimalColumns? decimals, EnvelopeFields fields, DecoderHints hints,
        ref TSink sink)
        where TSink : struct, IChangeSink
    {
        // Without __deleted or __op the SMT does not say what happened. Update is the honest guess: the
        // row exists now, and the invalidator treats create, update and read alike (delete the row's keys).
        var operation = fields.Deleted ? ChangeOperation.Delete
            : fields.UnwrapOp.IsPresent ? ParseOperation(value, fields.UnwrapOp, "__op", "")
            : ChangeOperation.Update;

        var tableHints = hints.IsEmpty ? null : hints.For(table);
        var commitTime = fields.UnwrapSourceTs.Instant(value) ?? fields.UnwrapTs.Instant(value);
        if (!sink.Start(table, operation, commitTime, tableHints) || ReadKey(topic, key, tableHints, ref sink, countColumns: false, out _) == RowRead.Declined)
        {
            return null;
        }

        // A rewritten delete carries the old row (what to invalidate) in place of the new one; only the whole row shows
        // whether it has REPLICA IDENTITY DEFAULT's shape.
        var read = operation switch
        {
            ChangeOperation.Truncate => RowRead.Absent,
            ChangeOperation.Delete when !sink.TakesEveryRecord && tableHints is { WatchesDefaultIdentity: true } => RowRead.Declined,
            ChangeOperation.Delete => sink.Row(
                ChangeImage.Before, value, fields.Object, "unwrapped row", decimals, RowScope.Root, skipMetadata: true, tableHints, TrustedColumns(tableHints, sink.Key)),
            _ => sink.Row(ChangeImage.After, value, fields.Object, "unwrapped row", decimals, RowScope.Root, skipMetadata: true, tableHints, null),
        };
        return read == RowRead.Declined ? null : RecordKind.Change;
    }

    /// <summary>
    /// Under <c>replicaIdentity: default</c> only the record key's columns of an old row are real: Debezium fills
    /// the others with placeholders. Null when every column is trusted. Without a key nothing is.
    /// </summary>
    private static IRowValues? TrustedColumns(TableDecodingHints? hints, IRowValues? key) =>
        hints is { TrustsOnlyKeyColumns: true } ? key ?? RowImage.Empty : null;

    /// <summary>
    /// Reads the record key's fields as the change's key row (keys may be wrapped like values); <paramref name="columns"/> is
    /// how many columns the key has when <paramref name="countColumns"/> asks. Absent when there is no key.
    /// </summary>
    private RowRead ReadKey<TSink>(string topic, ReadOnlySpan<byte> key, TableDecodingHints? hints, ref TSink sink, bool countColumns, out int columns)
        where TSink : struct, IChangeSink
    {
        columns = 0;
        if (key.IsEmpty)
        {
            return RowRead.Absent;
        }

        try
        {
            if (_keySchemas.TryScan(topic, key, out _, out var payload, out var keyDecimals))
            {
                columns = payload.PropertyCount;
                return sink.Row(ChangeImage.Key, key, payload.Object, "key", keyDecimals, RowScope.Root, skipMetadata: false, hints, null);
            }

            // The worker's usual key, a bare object without a schema, is read once, straight into its row, instead of
            // scanned and then read. Without "payload" in it, it is no wrapper (an escaped name makes the row decline).
            if (!sink.TakesEveryRecord && !countColumns && key[0] == (byte)'{' && key.IndexOf("payload"u8) < 0)
            {
                return sink.Row(
                    ChangeImage.Key, key, new JsonSegment(0, key.Length, JsonTokenType.StartObject), "key", null, RowScope.Root, skipMetadata: false, hints, null);
            }

            var rootType = ScanRoot(key, "key", out var fields);
            if (rootType == JsonTokenType.Null)
            {
                return RowRead.Absent;
            }

            if (rootType != JsonTokenType.StartObject)
            {
                throw new ChangeEventFormatException(
                    $"The key is a JSON {JsonText.Describe(rootType)}, not the JSON object of a Debezium key.");
            }

            var row = fields.Body;
            var schema = fields.IsWrapper ? fields.Schema : default;
            var decimals = DecimalColumns.Find(key, schema);
            if (row.IsObject)
            {
                _keySchemas.Remember(topic, key, schema, decimals);
            }

            columns = !row.IsObject ? 0 : fields.IsWrapper ? EnvelopeFields.Scan(key, row).PropertyCount : fields.PropertyCount;
            return sink.Row(ChangeImage.Key, key, row, "key", decimals, RowScope.Root, skipMetadata: false, hints, null);
        }
        catch (InvalidOperationException ex)
        {
            throw new ChangeEventFormatException($"The key contains text that is not valid UTF-8 ({ex.Message}).", ex);
        }
    }

    /// <summary>The key's fields as a row; null when there is no key. For the kinds only the full decode reads (tombstones, MongoDB).</summary>
    private RowImage? DecodeKey(string topic, ReadOnlySpan<byte> key, TableDecodingHints? hints)
    {
        var sink = new RecordingSink(_columns, _names);
        ReadKey(topic, key, hints, ref sink, countColumns: false, out _);
        return sink.KeyImage;
    }

    /// <summary>Debezium's heartbeat key: <c>{"serverName": "..."}</c> (bare or wrapped) and nothing else.</summary>
    private static bool KeyIsServerNameOnly(ReadOnlySpan<byte> key)
    {
        if (key.IsEmpty)
        {
            return false;
        }

        try
        {
            if (ScanRoot(key, "key", out var fields) != JsonTokenType.StartObject)
            {
                return false;
            }

            var row = fields.Body;
            if (!row.IsObject)
            {
                return false;
            }

            var reader = row.Open(key);
            return reader.Read() && reader.TokenType == JsonTokenType.PropertyName && reader.ValueTextEquals("serverName"u8)
                && reader.Read() && reader.TokenType == JsonTokenType.String
                && reader.Read() && reader.TokenType == JsonTokenType.EndObject;
        }
        catch (ChangeEventFormatException)
        {
            return false; // an unreadable key is judged with the rest of the record
        }
    }

    /// <summary>Whether the value schema's own name (not a nested one) is, or ends with, <paramref name="name"/>.</summary>
    private static bool SchemaNameIs(ReadOnlySpan<byte> json, JsonSegment schema, ReadOnlySpan<byte> name, bool suffix)
    {
        // A vectorised search rules out almost every schema without parsing it.
        if (!schema.IsObject || schema.Of(json).IndexOf(name) < 0)
        {
            return false;
        }

        var reader = schema.Open(json);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var isName = reader.ValueTextEquals("name"u8);
            reader.Read();
            if (isName && reader.TokenType == JsonTokenType.String && !reader.ValueIsEscaped)
            {
                return suffix ? reader.ValueSpan.EndsWith(name) : reader.ValueSpan.SequenceEqual(name);
            }

            reader.Skip();
        }

        return false;
    }

    /// <summary>
    /// The one pass that validates the whole document (nothing may follow the root value); when the root
    /// is an object it is scanned on the way. Later reads of parts of it cannot fail on syntax.
    /// </summary>
    private static JsonTokenType ScanRoot(ReadOnlySpan<byte> json, string part, out EnvelopeFields fields, RowPrefill? prefill = null)
    {
        try
        {
            var reader = new Utf8JsonReader(json, JsonText.ReaderOptions);
            reader.Read();
            var type = reader.TokenType;
            if (type == JsonTokenType.StartObject)
            {
                fields = EnvelopeFields.Scan(ref reader, 0, prefill, json);
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

    private ChangeOperation ParseOperation(ReadOnlySpan<byte> json, JsonSegment op, string field, string hint)
    {
        if (op.Type != JsonTokenType.String)
        {
            throw new ChangeEventFormatException(
                $"The '{field}' field is a JSON {JsonText.Describe(op.Type)} where a one-letter operation code was expected.{hint}");
        }

        var reader = op.Open(json);
        var code = _names.Get(ref reader);
        if (ChangeOperationCodes.TryParse(code, out var operation))
        {
            return operation;
        }

        throw new ChangeEventFormatException(
            $"The record has unknown op '{Quote(code!)}' in '{field}'; expected one of c, u, d, r, t, m.{hint}");
    }

    /// <summary>
    /// <c>schema.table</c> from the source block; MySQL has no schema, so <c>db.table</c>. Without either
    /// (unwrapped rows, logical messages) the topic's last two segments, which Debezium names
    /// <c>prefix.schema.table</c>.
    /// </summary>
    private string TableName(string topic, ReadOnlySpan<byte> json, SourceFields source)
    {
        var schema = source.Schema.IsNonEmptyString ? source.Schema : source.Db;
        return source.Table.IsNonEmptyString && schema.IsNonEmptyString
            ? Qualified(json, schema, source.Table)
            : TableFromTopic(topic);
    }

    /// <summary><c>schema.table</c>, from the name cache when both names are plain (as real ones are).</summary>
    private string Qualified(ReadOnlySpan<byte> json, JsonSegment schema, JsonSegment table)
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
            if (_names.Get(utf8[..length]) is { } name)
            {
                return name;
            }
        }

        return string.Concat(schema.GetString(json), ".", table.GetString(json));
    }

    private string TableFromTopic(string topic)
    {
        var last = topic.LastIndexOf('.');
        var previous = last <= 0 ? -1 : topic.LastIndexOf('.', last - 1);
        var table = topic.AsSpan(previous + 1);
        if (table.Length > MaxNameBytes / 3)
        {
            return table.ToString();
        }

        Span<byte> utf8 = stackalloc byte[MaxNameBytes];
        return _names.Get(utf8[..Encoding.UTF8.GetBytes(table, utf8)]) ?? table.ToString();
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
