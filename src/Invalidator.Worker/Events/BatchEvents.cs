namespace Invalidator.Worker.Events;

// What became of a batch (BatchApplier) and of its delayed second deletes (SecondDeleteScheduler). Published per batch.

/// <summary>
/// Every region applied a batch (or durably dead-lettered its share), at <paramref name="At"/>: its records, the
/// database commit times it carried (end-to-end latency) and how far it got in each partition. The lists belong to
/// the batch: read them during the call only. <paramref name="Batch"/> is the number <see cref="BatchSubmitted"/> gave it (0: none).
/// </summary>
internal readonly record struct BatchApplied(int Records, IReadOnlyList<DateTimeOffset> CommitTimes, IReadOnlyList<PartitionApplied> Partitions, DateTimeOffset At, long Batch = 0);

/// <summary>
/// A batch went to be applied (it may still wait for a free slot), at <paramref name="At"/>, numbered in read order.
/// With records, its changes wait until its <see cref="BatchApplied"/> (same <paramref name="Batch"/>), and the lag is
/// the oldest one's age. <paramref name="PositionOnly"/>: it only moves positions (a transaction's commit, the server's
/// position while idle); it has nothing to apply and no <see cref="BatchApplied"/> follows.
/// </summary>
internal readonly record struct BatchSubmitted(long Batch, IReadOnlyList<PartitionSubmitted> Partitions, DateTimeOffset At, bool PositionOnly = false);

/// <summary>A submitted batch's share of a partition: the commit time of its oldest record there (when known), and the position it reaches.</summary>
internal readonly record struct PartitionSubmitted(SourcePartition Partition, DateTimeOffset? FirstCommitTime, long NextPosition = 0);

/// <summary>Where an applied batch got to in one partition: the next position, and its newest record's commit time when known.</summary>
internal readonly record struct PartitionApplied(SourcePartition Partition, long NextPosition, DateTimeOffset? LastCommitTime);

/// <summary>Keys and tags started waiting for their second delete (positive <paramref name="Delta"/>) or stopped waiting (negative).</summary>
internal readonly record struct SecondDeletesPendingChanged(long Delta);

/// <summary>Keys and tags whose second delete ran before its delay because the pending bound was reached.</summary>
internal readonly record struct SecondDeletesRanEarly(long Names);
