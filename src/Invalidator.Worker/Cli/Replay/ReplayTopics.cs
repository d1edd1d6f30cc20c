using System.Text.RegularExpressions;
using Confluent.Kafka;
using Invalidator.Worker.Options;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>What a replay reads: the worker's topics (or those of one table) and their partitions' watermarks.</summary>
internal static class ReplayTopics
{
    /// <summary>
    /// The worker's topics (<c>Kafka:Topics</c>, or those <c>Kafka:TopicPattern</c> matches now); with <c>--table</c>, only
    /// the topics named after that table (<c>prefix.schema.table</c>) when there are any.
    /// </summary>
    public static List<string> Find(IConsumer<byte[]?, byte[]?> consumer, KafkaOptions kafka, string? table, TimeSpan requestTimeout)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        Metadata metadata;
        try
        {
            metadata = admin.GetMetadata(requestTimeout);
        }
        catch (KafkaException ex)
        {
            throw new ReplayException($"cannot read the broker's metadata: {ex.Error.Reason}; check Invalidator:Kafka:BootstrapServers ({kafka.BootstrapServers})");
        }

        var existing = metadata.Topics.Where(t => !t.Error.IsError).Select(t => t.Topic).ToHashSet(StringComparer.Ordinal);
        List<string> topics;
        if (string.IsNullOrWhiteSpace(kafka.TopicPattern))
        {
            topics = kafka.Topics.Where(t => !string.IsNullOrWhiteSpace(t)).Distinct(StringComparer.Ordinal).ToList();
            if (topics.FirstOrDefault(t => !existing.Contains(t)) is { } missing)
            {
                throw new ReplayException($"topic {missing} (Invalidator:Kafka:Topics) does not exist on {kafka.BootstrapServers}");
            }
        }
        else
        {
            var pattern = new Regex(kafka.TopicPattern, RegexOptions.None, TimeSpan.FromSeconds(1));
            topics = existing.Where(t => pattern.IsMatch(t)).Order(StringComparer.Ordinal).ToList();
        }

        if (table is { } only && topics.Where(t => t == only || t.EndsWith("." + only, StringComparison.Ordinal)).ToList() is { Count: > 0 } named)
        {
            topics = named;
        }

        return topics.Count > 0
            ? topics
            : throw new ReplayException($"no topic matches Invalidator:Kafka:TopicPattern '{kafka.TopicPattern}' on {kafka.BootstrapServers}");
    }

    public static List<PartitionMarks> Watermarks(IConsumer<byte[]?, byte[]?> consumer, List<string> topics, TimeSpan requestTimeout)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var marks = new List<PartitionMarks>();
        foreach (var topic in topics)
        {
            var partitions = admin.GetMetadata(topic, requestTimeout).Topics.Single(t => t.Topic == topic).Partitions;
            foreach (var partition in partitions.OrderBy(p => p.PartitionId))
            {
                var tp = new TopicPartition(topic, new Partition(partition.PartitionId));
                var watermarks = consumer.QueryWatermarkOffsets(tp, requestTimeout);
                marks.Add(new PartitionMarks(tp, watermarks.Low.Value, watermarks.High.Value));
            }
        }

        return marks;
    }
}
