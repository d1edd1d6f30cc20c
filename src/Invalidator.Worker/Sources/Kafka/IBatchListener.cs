using Confluent.Kafka;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Told when a batch has been applied in every region, just before its offsets are stored. An exception
/// here stops the worker without acknowledging the batch (tests use that to crash between delete and commit).
/// </summary>
public interface IBatchListener
{
    void OnApplied(IReadOnlyCollection<TopicPartitionOffset> offsets, int records);
}
