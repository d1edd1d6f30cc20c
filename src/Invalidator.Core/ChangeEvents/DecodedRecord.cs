namespace Invalidator.Core.ChangeEvents;

/// <summary>What a source record turned out to be.</summary>
public enum RecordKind
{
    /// <summary>A row change (or truncate, or logical message): see <see cref="DecodedRecord.Change"/>.</summary>
    Change,

    /// <summary>A Kafka tombstone (null value) that follows a delete for log compaction: nothing to invalidate.</summary>
    Tombstone,

    /// <summary>A Debezium heartbeat (<c>__debezium-heartbeat.*</c>): nothing to invalidate.</summary>
    Heartbeat,

    /// <summary>Transaction metadata (<c>*.transaction</c> topic, BEGIN/END): nothing to invalidate.</summary>
    TransactionMetadata,
}

/// <summary>The result of decoding one source record. Undecodable records throw <see cref="ChangeEventFormatException"/>.</summary>
public sealed record DecodedRecord(RecordKind Kind, ChangeEvent? Change)
{
    public static DecodedRecord Tombstone { get; } = new(RecordKind.Tombstone, null);

    public static DecodedRecord Heartbeat { get; } = new(RecordKind.Heartbeat, null);

    public static DecodedRecord TransactionMetadata { get; } = new(RecordKind.TransactionMetadata, null);

    public static DecodedRecord Of(ChangeEvent change) => new(RecordKind.Change, change);
}

/// <summary>A record that is not a Debezium event we can read: the message says what is wrong with it.</summary>
public sealed class ChangeEventFormatException : Exception
{
    public ChangeEventFormatException(string message) : base(message) { }

    public ChangeEventFormatException(string message, Exception inner) : base(message, inner) { }
}
