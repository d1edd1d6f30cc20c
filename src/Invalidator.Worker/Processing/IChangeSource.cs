using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Events;

namespace Invalidator.Worker.Processing;

/// <summary>
/// What only a source knows, for the <see cref="SourceRunner"/> that runs it: how to read the next change (planned into
/// the runner's <see cref="OpenBatch"/>) and how to acknowledge a position the runner hands it. Both are called on
/// the runner's loop, one at a time; everything else (batching, the rules version, poison, the pipeline, the
/// acknowledgement rule, shutdown) is the runner's.
/// </summary>
internal interface IChangeSource
{
    /// <summary>
    /// Reads what comes next, waiting at most <paramref name="wait"/> (a source that can may stop waiting early when
    /// <paramref name="wake"/> completes: the tracker has news). A record is planned into the runner's
    /// <see cref="OpenBatch"/> before it is returned.
    /// </summary>
    ValueTask<SourceRead> ReadAsync(TimeSpan wait, Task wake, CancellationToken cancellationToken);

    /// <summary>
    /// Everything before <paramref name="position"/> on its partition is done (the <see cref="AcknowledgementTracker"/>
    /// decided it): store the offset, confirm the LSN, or just note it.
    /// </summary>
    void Acknowledge(AcknowledgedPosition position);
}

/// <summary>What a source's read found.</summary>
internal enum SourceReadKind
{
    /// <summary>Nothing within the wait (or nothing that counts: a transaction's begin, a message without changes).</summary>
    Nothing,

    /// <summary>A record, planned into the open batch: track its position (and dead-letter it if it is poison).</summary>
    Record,

    /// <summary>A position to move over without a record (a transaction's commit, the server's position while idle).</summary>
    Position,

    /// <summary>The source has nothing more (a replay read its window): what was read is applied, then the run ends.</summary>
    End,

    /// <summary>The source cannot go on (a fatal client error, already reported): the run ends, unfinished work stays unacknowledged.</summary>
    Stop,
}

/// <summary>
/// One read of a source: a record (its partition, position, the position to acknowledge once it is done, its commit
/// time, and its dead letter if it is poison), a position to move over, or how the read ended.
/// </summary>
internal readonly record struct SourceRead(
    SourceReadKind Kind,
    SourcePartition Partition = default,
    long Position = 0,
    long NextPosition = 0,
    DateTimeOffset? CommitTime = null,
    PoisonRecord? Poison = null)
{
    public static SourceRead Nothing => default;

    public static SourceRead End => new(SourceReadKind.End);

    public static SourceRead Stop => new(SourceReadKind.Stop);

    /// <summary>A record at <paramref name="position"/>; <paramref name="nextPosition"/> is acknowledged once it is done.</summary>
    public static SourceRead Record(SourcePartition partition, long position, long nextPosition, DateTimeOffset? commitTime, PoisonRecord? poison) =>
        new(SourceReadKind.Record, partition, position, nextPosition, commitTime, poison);

    /// <summary>The partition moves from <paramref name="from"/> to <paramref name="to"/> without a record.</summary>
    public static SourceRead Advance(SourcePartition partition, long from, long to) =>
        new(SourceReadKind.Position, partition, from, to);
}
