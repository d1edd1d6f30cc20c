using Confluent.Kafka;
using Invalidator.Core.Planning;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Records consumed but not yet acknowledged: their merged invalidations, the poison records among them,
/// and per partition the offset to store once the batch is applied.
/// </summary>
internal sealed class PendingBatch
{
    private readonly Dictionary<TopicPartition, Offset> _nextOffsets = [];

    public InvalidationBatch Invalidations { get; } = new();

    public List<(ConsumeResult<byte[]?, byte[]?> Record, string Reason)> Poison { get; } = [];

    public int RecordCount { get; private set; }

    /// <summary>Source commit time of the newest record, for lag.</summary>
    public DateTimeOffset? NewestTimestamp { get; private set; }

    public void Track(ConsumeResult<byte[]?, byte[]?> record)
    {
        RecordCount++;
        _nextOffsets[record.TopicPartition] = record.Offset + 1;
        var timestamp = record.Message.Timestamp;
        if (timestamp.Type != TimestampType.NotAvailable)
        {
            NewestTimestamp = timestamp.UtcDateTime;
        }
    }

    /// <summary>The offsets to store: the next offset to read, per partition.</summary>
    public IEnumerable<TopicPartitionOffset> OffsetsToStore =>
        _nextOffsets.Select(p => new TopicPartitionOffset(p.Key, p.Value));

    /// <summary>
    /// Forgets partitions this consumer no longer owns: their records will be re-read by the new owner, so
    /// their offsets must not be stored. Their keys may stay in the batch (a repeated delete is harmless).
    /// </summary>
    public int Drop(IEnumerable<TopicPartition> partitions)
    {
        var dropped = 0;
        foreach (var partition in partitions)
        {
            if (_nextOffsets.Remove(partition))
            {
                dropped++;
            }

            Poison.RemoveAll(p => p.Record.TopicPartition == partition);
        }

        return dropped;
    }

    public void Clear()
    {
        _nextOffsets.Clear();
        Invalidations.Clear();
        Poison.Clear();
        RecordCount = 0;
        NewestTimestamp = null;
    }
}
