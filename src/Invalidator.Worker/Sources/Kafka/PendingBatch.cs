using Confluent.Kafka;
using Invalidator.Worker.Processing;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Kafka records consumed but not yet acknowledged: the source-neutral batch, plus the poison records among
/// them (which go to the dead-letter topic before the batch is acknowledged).
/// </summary>
internal sealed class PendingBatch
{
    public SourceBatch Batch { get; } = new();

    public List<(ConsumeResult<byte[]?, byte[]?> Record, string Reason)> Poison { get; } = [];

    public int RecordCount => Batch.RecordCount;

    public void Track(ConsumeResult<byte[]?, byte[]?> record, PlannedRecord planned)
    {
        if (planned.IsPoison)
        {
            Poison.Add((record, planned.PoisonReason!));
        }

        Batch.Track(record.Topic, record.Partition.Value, record.Offset.Value, record.Offset.Value + 1, planned.CommitTime);
    }

    /// <summary>The offsets to store: the next offset to read, per partition.</summary>
    public IEnumerable<TopicPartitionOffset> OffsetsToStore =>
        Batch.Progress.Select(p => new TopicPartitionOffset(p.Source, new Partition(p.Partition), new Offset(p.NextPosition)));

    /// <summary>
    /// Forgets partitions this consumer no longer owns: their records will be re-read by the new owner, so
    /// their offsets must not be stored. Their keys may stay in the batch (a repeated delete is harmless).
    /// </summary>
    public int Drop(IEnumerable<TopicPartition> partitions)
    {
        var dropped = 0;
        foreach (var partition in partitions)
        {
            if (Batch.Forget(partition.Topic, partition.Partition.Value))
            {
                dropped++;
            }

            Poison.RemoveAll(p => p.Record.TopicPartition == partition);
        }

        return dropped;
    }

    public void Clear()
    {
        Batch.Clear();
        Poison.Clear();
    }
}
