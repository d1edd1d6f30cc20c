using Confluent.Kafka;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>
/// Finds, per partition, the first offset whose record was written at or after a time: Kafka's offsetsForTimes
/// (ListOffsets by timestamp, the broker's time index). A broker answers "the end" only when no record of the
/// partition is that new; when it answers so although the partition's last record is newer, it did not look the
/// time up (librdkafka's mock cluster, on which the tests run, answers every time with the end), and the offset is
/// found by a binary search over the records' timestamps instead (about log2(records) single-record reads), rather
/// than replaying nothing. Both assume what Kafka's own lookup does: timestamps grow with offsets (LogAppendTime, or
/// CreateTime from one producer, as Debezium's).
/// </summary>
internal sealed class TimestampOffsets(IConsumer<byte[]?, byte[]?> consumer, TextWriter log, TimeSpan timeout, TimeProvider time)
{
    private bool _searchSaid;

    /// <summary>Reads done by the binary search, over all lookups.</summary>
    public int SearchReads { get; private set; }

    /// <summary>For each partition, the first offset at or after <paramref name="time"/>, or its high watermark when none is.</summary>
    public Dictionary<TopicPartition, long> Find(IReadOnlyList<PartitionMarks> partitions, DateTimeOffset time)
    {
        var found = new Dictionary<TopicPartition, long>();
        if (partitions.Count == 0)
        {
            return found;
        }

        var timestamp = new Timestamp(time);
        List<TopicPartitionOffset> answers;
        try
        {
            answers = consumer.OffsetsForTimes(partitions.Select(p => new TopicPartitionTimestamp(p.Partition, timestamp)), timeout);
        }
        catch (KafkaException ex)
        {
            throw new ReplayException($"the broker could not look up the offsets for {ReplayWindow.Text(time)}: {ex.Error.Reason}");
        }

        var marks = partitions.ToDictionary(p => p.Partition);
        foreach (var answer in answers)
        {
            var partition = marks[answer.TopicPartition];
            found[answer.TopicPartition] = answer.Offset.IsSpecial
                ? Verify(partition, time)
                : Math.Clamp(answer.Offset.Value, partition.Low, partition.High);
        }

        return found;
    }

    /// <summary>The broker said no record is that new: true when the last record is older (or there is none).</summary>
    private long Verify(PartitionMarks partition, DateTimeOffset time)
    {
        if (partition.High <= partition.Low)
        {
            return partition.High;
        }

        var last = FirstAtOrAfter(partition, partition.High - 1);
        if (last is not { } record || record.Time < time)
        {
            return partition.High;
        }

        if (!_searchSaid)
        {
            _searchSaid = true;
            log.WriteLine($"replay: the broker answered offsetsForTimes for {Name(partition.Partition)} with the end of the partition although its last record is from {ReplayWindow.Text(record.Time)}: " +
                "it does not look offsets up by time, so they are found by a binary search over the records' timestamps");
        }

        return Search(partition, time);
    }

    /// <summary>The smallest offset from which the first record read is at or after <paramref name="time"/>.</summary>
    private long Search(PartitionMarks partition, DateTimeOffset time)
    {
        long low = partition.Low, high = partition.High;
        while (low < high)
        {
            var middle = low + ((high - low) / 2);
            if (FirstAtOrAfter(partition, middle) is { } record && record.Time < time)
            {
                low = record.Offset + 1;
            }
            else
            {
                high = middle; // at or after the time, or no record from here on
            }
        }

        return low;
    }

    /// <summary><c>topic[partition]</c>, as the worker's logs write it.</summary>
    public static string Name(TopicPartition partition) => $"{partition.Topic}[{partition.Partition.Value}]";

    /// <summary>The first record at or after <paramref name="offset"/>: its offset and time; null when the partition ends before one.</summary>
    private (long Offset, DateTimeOffset Time)? FirstAtOrAfter(PartitionMarks partition, long offset)
    {
        SearchReads++;
        consumer.Assign(new TopicPartitionOffset(partition.Partition, new Offset(offset)));
        var started = time.GetTimestamp();
        while (time.GetElapsedTime(started) < timeout)
        {
            var record = consumer.Consume(TimeSpan.FromMilliseconds(250));
            // Only what this assignment fetched (librdkafka drops what an earlier one had prefetched; the offset check is cheap).
            if (record is null || record.TopicPartition != partition.Partition || (!record.IsPartitionEOF && record.Offset.Value < offset))
            {
                continue;
            }

            if (record.IsPartitionEOF)
            {
                return null;
            }

            if (record.Message.Timestamp.Type == TimestampType.NotAvailable)
            {
                throw new ReplayException($"{Name(partition.Partition)}@{record.Offset.Value} carries no timestamp, so it cannot be placed in time");
            }

            return (record.Offset.Value, new DateTimeOffset(record.Message.Timestamp.UtcDateTime));
        }

        throw new ReplayException($"reading {Name(partition.Partition)} at offset {offset} gave no record within {timeout.TotalSeconds:0} s");
    }
}

/// <summary>A partition to replay and its watermarks when the replay started (High: the next offset to be written).</summary>
internal sealed record PartitionMarks(TopicPartition Partition, long Low, long High);
