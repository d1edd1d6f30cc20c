using Confluent.Kafka;
using Invalidator.Worker.Options;
using Invalidator.Worker.Sources.Kafka;

namespace Invalidator.Worker.Cli.Diff;

/// <summary>
/// The newest records of a topic, spread over its partitions, read with a consumer of its own that assigns
/// partitions and never commits: no consumer group is joined, and the worker's group is never touched.
/// </summary>
internal static class TopicSample
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    public static List<SourceRecord> Read(KafkaOptions options, string topic, int sample, TextWriter log, CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.BootstrapServers))
        {
            throw new DiffException("--topic needs a broker: set Invalidator:Kafka:BootstrapServers (in --config or the environment)");
        }

        // The end of a partition is where its end offset was, or the broker's end-of-partition event: the last
        // offsets may hold no record (transaction markers, compaction).
        using var consumer = AssignedConsumer.Build(options, "invalidator-rules-diff-", partitionEof: true, log);
        var ranges = Ranges(consumer, topic, sample);
        var records = new List<SourceRecord>(ranges.Sum(r => (int)(r.End - r.Start)));
        if (ranges.Count == 0)
        {
            return records;
        }

        consumer.Assign(ranges.Select(r => new TopicPartitionOffset(r.Partition, r.Start)));
        var open = ranges.ToDictionary(r => r.Partition.Partition.Value, r => r.End);
        while (open.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var record = consumer.Consume(RequestTimeout)
                ?? throw new DiffException($"reading {topic} stopped: no record for {RequestTimeout.TotalSeconds:F0} s before the end of partition(s) {string.Join(", ", open.Keys)}");
            var partition = record.Partition.Value;
            if (record.IsPartitionEOF)
            {
                open.Remove(partition);
                continue;
            }

            if (!open.TryGetValue(partition, out var end) || record.Offset.Value >= end)
            {
                continue;
            }

            records.Add(new SourceRecord($"{topic}[{partition}]@{record.Offset.Value}", topic, record.Message.Key ?? [], record.Message.Value ?? []));
            if (record.Offset.Value >= end - 1)
            {
                open.Remove(partition);
            }
        }

        consumer.Close();
        return records.OrderBy(r => r.Label, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Where to read in each partition: the newest records, <paramref name="sample"/> in all, shared evenly (a
    /// partition with fewer than its share gives the rest to the others).
    /// </summary>
    private static List<(TopicPartition Partition, long Start, long End)> Ranges(IConsumer<byte[]?, byte[]?> consumer, string topic, int sample)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        Metadata metadata;
        try
        {
            metadata = admin.GetMetadata(topic, RequestTimeout);
        }
        catch (KafkaException ex)
        {
            throw new DiffException($"cannot read the metadata of {topic}: {ex.Error.Reason}; check Invalidator:Kafka:BootstrapServers");
        }

        var partitions = metadata.Topics.SingleOrDefault(t => t.Topic == topic) is { Error.IsError: false } found
            ? found.Partitions
            : throw new DiffException($"topic {topic} not found on {string.Join(",", metadata.Brokers.Select(b => $"{b.Host}:{b.Port}"))}");
        var sizes = partitions
            .Select(p => new TopicPartition(topic, p.PartitionId))
            .Select(p => (Partition: p, Marks: consumer.QueryWatermarkOffsets(p, RequestTimeout)))
            .Where(p => p.Marks.High.Value > p.Marks.Low.Value)
            .OrderBy(p => p.Marks.High.Value - p.Marks.Low.Value)
            .ToList();
        var ranges = new List<(TopicPartition, long, long)>();
        long left = sample;
        for (var i = 0; i < sizes.Count; i++)
        {
            var (partition, marks) = sizes[i];
            var take = Math.Min(marks.High.Value - marks.Low.Value, left / (sizes.Count - i));
            if (take > 0)
            {
                ranges.Add((partition, marks.High.Value - take, marks.High.Value));
                left -= take;
            }
        }

        return ranges;
    }
}

/// <summary>A diff that cannot run (exit code 2): the message says why.</summary>
internal sealed class DiffException(string message) : Exception(message);
