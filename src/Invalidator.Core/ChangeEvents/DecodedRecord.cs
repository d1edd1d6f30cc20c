namespace Invalidator.Core.ChangeEvents;

/// <summary>What a source record turned out to be.</summary>
public enum RecordKind
{
    /// <summary>A row change (or truncate, or logical message): see <see cref="DecodedRecord.Change"/>.</summary>
    Change,

    /// <summary>
    /// A Kafka tombstone (null value). With the unwrap SMT's default delete handling it is the only record of a
    /// delete, so <see cref="DecodedRecord.Change"/> is a delete of the topic's table whose only image is the
    /// record key; after an envelope's <c>d</c> event it repeats that delete, which is harmless.
    /// </summary>
    Tombstone,

    /// <summary>A Debezium heartbeat (by topic, schema name or shape): nothing to invalidate.</summary>
    Heartbeat,

    /// <summary>Transaction metadata (<c>*.transaction</c> topic or BEGIN/END shape): nothing to invalidate.</summary>
    TransactionMetadata,

    /// <summary>A schema-change (DDL) event of a relational connector, or flink-cdc's <c>historyRecord</c>: nothing to invalidate.</summary>
    SchemaChange,
}

/// <summary>The result of decoding one source record. Undecodable records throw <see cref="ChangeEventFormatException"/>.</summary>
public sealed record DecodedRecord(RecordKind Kind, ChangeEvent? Change)
{
    public static DecodedRecord Heartbeat { get; } = new(RecordKind.Heartbeat, null);

    public static DecodedRecord TransactionMetadata { get; } = new(RecordKind.TransactionMetadata, null);

    public static DecodedRecord SchemaChange { get; } = new(RecordKind.SchemaChange, null);

    /// <summary>A tombstone: the delete of <paramref name="delete"/>'s table that only its record key describes.</summary>
    public static DecodedRecord TombstoneOf(ChangeEvent delete) => new(RecordKind.Tombstone, delete);

    public static DecodedRecord Of(ChangeEvent change) => new(RecordKind.Change, change);
}

/// <summary>A record that is not a Debezium event we can read: the message says what is wrong with it.</summary>
public sealed class ChangeEventFormatException : Exception
{
    public ChangeEventFormatException(string message) : base(message) { }

    public ChangeEventFormatException(string message, Exception inner) : base(message, inner) { }
}
