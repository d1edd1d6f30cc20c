using Confluent.Kafka;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Where newly assigned partitions start. librdkafka, given a partition its group never committed, waits 100 ms before
/// it applies <c>auto.offset.reset</c> (it treats "no committed offset" as an error and backs off): the first change
/// of a new group, or of a new partition, waited for that. Asking for the committed offsets here and giving the reset
/// position (earliest or latest) to the partitions without one starts them at once. A partition with a committed
/// offset is left to librdkafka, as before; if the question fails, all of them are.
/// </summary>
internal static class StartPositions
{
    /// <summary>How long the assignment may wait for the committed offsets before librdkafka is left to fetch them.</summary>
    internal static readonly TimeSpan CommittedTimeout = TimeSpan.FromSeconds(5);

    /// <param name="timeout">How long to wait for the coordinator's answer (<see cref="CommittedTimeout"/> by default).</param>
    /// <param name="reset">Where a partition without a committed offset starts (<see cref="ResetOffset"/>); null leaves every partition to librdkafka.</param>
    public static IEnumerable<TopicPartitionOffset> For<TKey, TValue>(
        IConsumer<TKey, TValue> consumer, List<TopicPartition> partitions, Offset? reset, TimeSpan? timeout = null)
    {
        var unset = partitions.Select(p => new TopicPartitionOffset(p, Offset.Unset));
        if (partitions.Count == 0 || reset is not { } start)
        {
            return unset;
        }

        List<TopicPartitionOffset> committed;
        try
        {
            committed = consumer.Committed(partitions, timeout ?? CommittedTimeout);
        }
        catch (KafkaException)
        {
            return unset;
        }

        return committed.Select(c => new TopicPartitionOffset(c.TopicPartition, c.Offset == Offset.Unset ? start : Offset.Unset));
    }

    /// <summary>
    /// The logical offset <c>auto.offset.reset</c> names, in any spelling librdkafka accepts (the worker sets earliest
    /// unless configured otherwise); null for <c>error</c>, no setting or a value it does not know (librdkafka then
    /// decides, as without this class).
    /// </summary>
    internal static Offset? ResetOffset(string? reset) => reset?.Trim().ToLowerInvariant() switch
    {
        "earliest" or "smallest" or "beginning" => Offset.Beginning,
        "latest" or "largest" or "end" => Offset.End,
        _ => null,
    };
}
