using Confluent.Kafka;
using Invalidator.Worker.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>The consumer configuration: the worker's defaults, then <c>Invalidator:Kafka:Consumer</c> over them.</summary>
internal static class KafkaConsumerSettings
{
    public static ConsumerConfig Build(KafkaOptions options)
    {
        var config = new ConsumerConfig
        {
            BootstrapServers = options.BootstrapServers,
            GroupId = options.GroupId,
            ClientId = "invalidator",
            // A new group starts at the beginning: an invalidator must not skip changes made before its first start.
            AutoOffsetReset = AutoOffsetReset.Earliest,
            // Offsets are stored by the worker after every region applied the batch, and committed from the store.
            EnableAutoOffsetStore = false,
            EnableAutoCommit = true,
            AutoCommitIntervalMs = 1000,
            PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
            EnablePartitionEof = false,
            // Large enough that a batch holding an oversized record is fetched whole, so the record reaches
            // the dead-letter topic instead of stalling (or, on some brokers, being passed over) in the fetcher.
            MaxPartitionFetchBytes = 16 * 1024 * 1024,
            // librdkafka prefetches up to 64 MB by default; 16 MB (over 20,000 typical records, several batches) keeps a
            // draining worker fed while its memory stays bounded (bench/README: a 1,000,000-record backlog).
            QueuedMaxMessagesKbytes = 16 * 1024,
            FetchQueueBackoffMs = 10,
            // Per-partition lag for invalidator_consumer_lag_messages comes from these statistics.
            StatisticsIntervalMs = 5000,
        };
        foreach (var (key, value) in options.Consumer)
        {
            config.Set(key, value);
        }

        return config;
    }

    /// <summary>An admin client that reaches the brokers exactly as the consumer does (security settings included).</summary>
    public static AdminClientConfig BuildAdmin(KafkaOptions options) =>
        new(Build(options).Where(p => !ConsumerOnly.Contains(p.Key)).ToDictionary(p => p.Key, p => p.Value));

    // Settings librdkafka rejects or warns about on a non-consumer client.
    private static readonly HashSet<string> ConsumerOnly = new(StringComparer.Ordinal)
    {
        "group.id", "group.instance.id", "auto.offset.reset", "enable.auto.offset.store", "enable.auto.commit",
        "auto.commit.interval.ms", "partition.assignment.strategy", "enable.partition.eof", "session.timeout.ms",
        "heartbeat.interval.ms", "max.poll.interval.ms", "group.protocol", "fetch.max.bytes", "max.partition.fetch.bytes",
        "fetch.wait.max.ms", "fetch.min.bytes", "isolation.level", "check.crcs", "queued.min.messages", "queued.max.messages.kbytes",
        "fetch.error.backoff.ms", "fetch.queue.backoff.ms", "group.remote.assignor", "allow.auto.create.topics",
    };

    /// <summary>The subscription: topic names, or one regular expression (librdkafka reads a leading '^' as a pattern).</summary>
    public static IReadOnlyList<string> Subscription(KafkaOptions options) =>
        string.IsNullOrWhiteSpace(options.TopicPattern)
            ? options.Topics.Where(t => !string.IsNullOrWhiteSpace(t)).ToList()
            : [options.TopicPattern.StartsWith('^') ? options.TopicPattern : "^" + options.TopicPattern];
}
