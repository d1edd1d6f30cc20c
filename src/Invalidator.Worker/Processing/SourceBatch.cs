using Invalidator.Core.Planning;

namespace Invalidator.Worker.Processing;

/// <summary>Where one source partition got to in a batch: the position to acknowledge and the newest commit time.</summary>
/// <param name="Source">The Kafka topic, or <c>postgres</c> for the direct source.</param>
/// <param name="Partition">The Kafka partition (0 for the direct source).</param>
/// <param name="FirstPosition">Position of the partition's first record in the batch.</param>
/// <param name="NextPosition">The next Kafka offset to read, or the replication LSN to confirm.</param>
/// <param name="LastCommitTime">Database commit time of the partition's newest record in the batch, when known.</param>
public readonly record struct PartitionProgress(string Source, int Partition, long FirstPosition, long NextPosition, DateTimeOffset? LastCommitTime);

/// <summary>
/// Records read from a source but not yet acknowledged, whatever the source: their merged invalidations,
/// their commit times (for end-to-end latency) and per partition how far they reach.
/// </summary>
public sealed class SourceBatch
{
    private readonly Dictionary<(string Source, int Partition), PartitionProgress> _progress = [];
    private readonly List<DateTimeOffset> _commitTimes = [];

    public InvalidationBatch Invalidations { get; } = new();

    public int RecordCount { get; private set; }

    public IReadOnlyList<DateTimeOffset> CommitTimes => _commitTimes;

    public IReadOnlyCollection<PartitionProgress> Progress => _progress.Values;

    /// <summary>Counts a record at <paramref name="position"/>; <paramref name="nextPosition"/> is what to acknowledge once it is applied.</summary>
    public void Track(string source, int partition, long position, long nextPosition, DateTimeOffset? commitTime)
    {
        RecordCount++;
        var key = (source, partition);
        var known = _progress.TryGetValue(key, out var previous);
        var last = commitTime ?? (known ? previous.LastCommitTime : null);
        _progress[key] = new PartitionProgress(source, partition, known ? previous.FirstPosition : position, nextPosition, last);
        if (commitTime is { } committed)
        {
            _commitTimes.Add(committed);
        }
    }

    /// <summary>Forgets a partition this worker no longer owns: its records are re-read by the new owner.</summary>
    public bool Forget(string source, int partition) => _progress.Remove((source, partition));

    public void Clear()
    {
        _progress.Clear();
        _commitTimes.Clear();
        Invalidations.Clear();
        RecordCount = 0;
    }
}
