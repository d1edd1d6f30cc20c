using Invalidator.Core.ChangeEvents;
using Invalidator.Worker.Events;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// A source record the worker could not use, on its way to the dead-letter store. Its position counts as done
/// only once the store has it.
/// </summary>
/// <param name="Partition">Where it was read: the Kafka topic and partition, or the slot.</param>
/// <param name="Position">Its offset, or its LSN.</param>
/// <param name="PositionText">The position as people read it: <c>topic[0]@17</c>, or an LSN such as <c>0/16B3748</c>.</param>
/// <param name="Reason">Why it could not be used: the decoder's or the planner's message.</param>
/// <param name="Content">The record itself.</param>
internal sealed record PoisonRecord(SourcePartition Partition, long Position, string PositionText, string Reason, PoisonContent Content)
{
    /// <summary>
    /// The letter as <c>Invalidator:DeadLetter:Redact</c> keeps it: the record key and the reason only. A raw record loses
    /// its value and headers; a change keeps only its key image (the row images are what holds personal data).
    /// </summary>
    public PoisonRecord Redacted() => this with
    {
        Content = Content switch
        {
            RawRecordContent raw => new RawRecordContent(raw.Topic, raw.Key, null, [], raw.Timestamp) { Redacted = true },
            ChangeContent { Change: var change } => new ChangeContent(
                new ChangeEvent(change.Table, change.Operation, null, null, change.Key, change.CommitTime)) { Redacted = true },
            _ => Content,
        },
    };
}

/// <summary>What a poison record holds: the raw record, or a decoded change whose rules failed.</summary>
internal abstract record PoisonContent
{
    /// <summary>Only the record key is kept (<c>Invalidator:DeadLetter:Redact</c>).</summary>
    public bool Redacted { get; init; }
}

/// <summary>A record as the broker delivered it (undecodable, oversized, or its rules failed), kept unchanged.</summary>
internal sealed record RawRecordContent(
    string Topic, byte[]? Key, byte[]? Value, IReadOnlyList<KeyValuePair<string, byte[]>> Headers, DateTimeOffset? Timestamp) : PoisonContent;

/// <summary>A decoded change whose rules could not be evaluated (direct mode has no raw record to keep).</summary>
internal sealed record ChangeContent(ChangeEvent Change) : PoisonContent;
