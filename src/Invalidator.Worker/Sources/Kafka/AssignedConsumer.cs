using Confluent.Kafka;
using Invalidator.Worker.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// A consumer that only assigns partitions, reads a range and stops (<c>dlq replay</c>, <c>replay</c>, <c>rules diff
/// --topic</c>): it joins no group and stores and commits nothing, so no consumer group, the worker's least of all, is
/// touched. Confluent.Kafka wants a group id even so: a fresh one, never joined or committed.
/// </summary>
internal static class AssignedConsumer
{
    /// <summary>
    /// Builds the consumer with the worker's connection settings. <paramref name="groupPrefix"/> names the unused
    /// group (<c>invalidator-replay-</c>); <paramref name="partitionEof"/> makes the end of a partition an event;
    /// <paramref name="log"/>, when given, receives librdkafka's log lines and errors (else they are dropped).
    /// </summary>
    public static IConsumer<byte[]?, byte[]?> Build(KafkaOptions options, string groupPrefix, bool partitionEof, TextWriter? log = null)
    {
        var config = KafkaConsumerSettings.Build(options);
        config.GroupId = groupPrefix + Guid.NewGuid().ToString("N");
        config.EnableAutoCommit = false;
        config.EnableAutoOffsetStore = false;
        config.StatisticsIntervalMs = 0;
        config.EnablePartitionEof = partitionEof;
        config.AutoOffsetReset = AutoOffsetReset.Earliest; // an offset that retention removed meanwhile: the oldest left
        var builder = new ConsumerBuilder<byte[]?, byte[]?>(config);
        if (log is null)
        {
            builder.SetLogHandler((_, _) => { });
        }
        else
        {
            builder
                .SetLogHandler((_, message) => log.WriteLine($"kafka {message.Level}: {message.Facility}: {message.Message}"))
                .SetErrorHandler((_, error) => log.WriteLine($"kafka error: {error.Code}: {error.Reason}"));
        }

        return builder.Build();
    }
}
