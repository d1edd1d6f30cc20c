using Invalidator.Core.Planning;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Events;

namespace Invalidator.Worker.Processing;

/// <summary>Where one source partition got to in a batch: the position to acknowledge and the newest commit time.</summary>
/// <param name="Source">The Kafka topic, or <c>postgres</c> for the direct source.</param>
/// <param name="Partition">The Kafka partition (0 for the direct source).</param>
/// <param name="FirstPosition">Position of the partition's first record in the batch (for the direct source: the confirmed boundary before it).</param>
/// <param name="NextPosition">The next Kafka offset to read, or the replication LSN to confirm, once the batch is done.</param>
/// <param name="LastCommitTime">Database commit time of the partition's newest record in the batch, when known.</param>
/// <param name="FirstCommitTime">Database commit time of the partition's oldest record in the batch, when known.</param>
internal readonly record struct PartitionProgress(string Source, int Partition, long FirstPosition, long NextPosition, DateTimeOffset? LastCommitTime, DateTimeOffset? FirstCommitTime = null)
{
    public SourcePartition Key => new(Source, Partition);
}

/// <summary>
/// Records read from a source but not yet acknowledged, whatever the source: their merged invalidations,
/// the poison records among them, their commit times (for end-to-end latency) and per partition how far they reach.
/// </summary>
internal sealed class SourceBatch
{
    private readonly Dictionary<SourcePartition, PartitionProgress> _progress = [];
    private readonly List<DateTimeOffset> _commitTimes = [];
    private readonly List<PoisonRecord> _poison = [];
    private ulong _lastTransactionEnd;
    private bool _inOpenTransaction;
    private TransactionEnd? _openTransactionEnd;

    public InvalidationBatch Invalidations { get; } = new();

    public int RecordCount { get; private set; }

    public IReadOnlyList<DateTimeOffset> CommitTimes => _commitTimes;

    public IReadOnlyCollection<PartitionProgress> Progress => _progress.Values;

    /// <summary>The number <see cref="BatchSubmitted"/> gave the batch, for its <see cref="BatchApplied"/> (0 until submitted).</summary>
    internal long Sequence { get; set; }

    /// <summary>Records that could not be used: they go to the dead-letter store before the batch counts as done.</summary>
    public IReadOnlyList<PoisonRecord> Poison => _poison;

    /// <summary>Whether there is nothing to do but acknowledge: no record (only positions, such as a transaction's commit).</summary>
    public bool IsPositionOnly => RecordCount == 0 && _poison.Count == 0;

    /// <summary>
    /// The WAL position the read replicas must replay before the batch's replica delete (direct mode): the end of the
    /// last transaction whose changes it holds (pgoutput's <c>TransactionEndLsn</c>: a standby at the commit record's
    /// start still shows the old row); for a batch cut inside a transaction, that transaction's end once its commit is
    /// read. Null when it is not known (Kafka mode, or the session ended before the commit): the primary's current
    /// position, read after the batch was cut, is used then.
    /// </summary>
    public async ValueTask<ulong?> ReplicaPositionAsync()
    {
        if (_openTransactionEnd is { } open)
        {
            return await open.Task.ConfigureAwait(false) is var end and > 0 ? end : null;
        }

        return _inOpenTransaction || _lastTransactionEnd == 0 ? null : _lastTransactionEnd;
    }

    /// <summary>Whether the batch holds changes of a transaction whose commit the source has not read yet.</summary>
    internal bool InOpenTransaction => _inOpenTransaction;

    /// <summary>The direct source planned a change of a transaction whose commit it has not read yet.</summary>
    public void ChangeInTransaction() => _inOpenTransaction = true;

    /// <summary>The direct source read a commit ending at <paramref name="endLsn"/>: the batch's changes up to here are committed by then.</summary>
    public void TransactionEnded(ulong endLsn)
    {
        _inOpenTransaction = false;
        _lastTransactionEnd = Math.Max(_lastTransactionEnd, endLsn);
    }

    /// <summary>Cut inside a transaction: its position is that transaction's end, when the source reads it.</summary>
    internal void AwaitTransactionEnd(TransactionEnd end) => _openTransactionEnd = end;

    /// <summary>Counts a record at <paramref name="position"/>; <paramref name="nextPosition"/> is what to acknowledge once it is applied.</summary>
    public void Track(string source, int partition, long position, long nextPosition, DateTimeOffset? commitTime)
    {
        RecordCount++;
        Advance(source, partition, position, nextPosition, commitTime);
        if (commitTime is { } committed)
        {
            _commitTimes.Add(committed);
        }
    }

    /// <summary>
    /// Moves the partition's position without a record (a transaction's commit): once the batch is done,
    /// <paramref name="nextPosition"/> may be acknowledged.
    /// </summary>
    public void Advance(string source, int partition, long position, long nextPosition, DateTimeOffset? commitTime = null)
    {
        var key = new SourcePartition(source, partition);
        var known = _progress.TryGetValue(key, out var previous);
        var last = commitTime ?? (known ? previous.LastCommitTime : null);
        var first = known ? previous.FirstCommitTime ?? commitTime : commitTime;
        var next = known ? Math.Max(previous.NextPosition, nextPosition) : nextPosition;
        _progress[key] = new PartitionProgress(source, partition, known ? previous.FirstPosition : position, next, last, first);
    }

    /// <summary>The records the batch covers, per partition, as a region dead letter names them.</summary>
    public IReadOnlyList<RegionDeadLetter.SourceRange> Ranges() =>
        _progress.Values.Select(p => new RegionDeadLetter.SourceRange(p.Source, p.Partition, p.FirstPosition, p.NextPosition - 1)).ToList();

    /// <summary>What the batch covered, as published once every region applied it (at <paramref name="at"/>).</summary>
    internal BatchApplied ToAppliedEvent(DateTimeOffset at) =>
        new(RecordCount, _commitTimes, [.. _progress.Values.Select(p => new PartitionApplied(p.Key, p.NextPosition, p.LastCommitTime))], at, Sequence);

    /// <summary>A record of this batch to dead-letter (it is tracked like any other record, with <see cref="Track"/>).</summary>
    public void AddPoison(PoisonRecord poison) => _poison.Add(poison);

    /// <summary>
    /// Forgets a partition this worker no longer owns: its records are re-read by the new owner, so neither its
    /// position nor its poison records are this worker's to handle. Its keys stay (a repeated delete is harmless).
    /// </summary>
    public bool Forget(SourcePartition partition)
    {
        _poison.RemoveAll(p => p.Partition == partition);
        return _progress.Remove(partition);
    }

    /// <summary>Empties the batch for reuse; its sets keep their capacity, so a busy worker does not regrow them for every batch.</summary>
    internal void Reset()
    {
        _progress.Clear();
        _commitTimes.Clear();
        _poison.Clear();
        Invalidations.Clear();
        RecordCount = 0;
        _lastTransactionEnd = 0;
        _inOpenTransaction = false;
        _openTransactionEnd = null;
        Sequence = 0;
    }
}
