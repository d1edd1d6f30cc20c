using System.Diagnostics;
using Confluent.Kafka;
using Invalidator.KafkaMock;

namespace Invalidator.Benchmarks.Drain;

/// <summary>One record to produce: its topic and partition, key and value bytes.</summary>
internal readonly record struct ProducedRecord(string Topic, int Partition, byte[] Key, byte[] Value);

/// <summary>What the Kafka benchmarks share: producing a backlog, checking the mock kept it, waiting for a group's commits.</summary>
internal static class KafkaBench
{
    /// <summary>The mock keeps at most 5 MiB per partition and silently drops older records (rdkafka_mock.c, mpart->max_size).</summary>
    public const long MockPartitionBytes = 5 * 1024 * 1024;

    /// <summary>Produces the records; returns the end offset of every partition written to, per topic.</summary>
    public static Dictionary<TopicPartition, long> Produce(KafkaMockCluster kafka, IEnumerable<ProducedRecord> records, out double seconds, out long bytes, out int count)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            Acks = Acks.Leader,
            LingerMs = 5,
            BatchNumMessages = 10_000,
            QueueBufferingMaxMessages = 200_000,
        }).Build();
        var failed = 0;
        var ends = new Dictionary<TopicPartition, long>();
        bytes = 0;
        count = 0;
        var clock = Stopwatch.StartNew();
        foreach (var record in records)
        {
            bytes += record.Key.Length + record.Value.Length;
            count++;
            var partition = new TopicPartition(record.Topic, new Partition(record.Partition));
            ends[partition] = ends.GetValueOrDefault(partition) + 1;
            var message = new Message<byte[], byte[]> { Key = record.Key, Value = record.Value };
            while (true)
            {
                try
                {
                    producer.Produce(partition, message, report =>
                    {
                        if (report.Error.IsError)
                        {
                            Interlocked.Increment(ref failed);
                        }
                    });
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                }
            }
        }

        if (producer.Flush(TimeSpan.FromSeconds(120)) > 0 || failed > 0)
        {
            throw new InvalidOperationException($"producing to the mock broker failed ({failed} failed deliveries)");
        }

        seconds = clock.Elapsed.TotalSeconds;
        return ends;
    }

    /// <summary>Fails if the mock broker dropped any partition's first records (its log start moved past 0).</summary>
    public static void AssertNothingDropped(KafkaMockCluster kafka, IEnumerable<TopicPartition> partitions)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = $"watermarks-{Guid.NewGuid():N}",
        }).Build();
        foreach (var partition in partitions)
        {
            var low = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10)).Low;
            if (low.Value != 0)
            {
                throw new InvalidOperationException($"the mock broker dropped the first {low.Value} records of {partition}: produce fewer records or use more partitions");
            }
        }
    }

    /// <summary>Polls the group's committed offsets (from a client that does not join the group) until they reach the end; the timestamp then, or null.</summary>
    public static long? WaitForCommittedEnd(KafkaMockCluster kafka, string groupId, IReadOnlyDictionary<TopicPartition, long> endOffsets, TimeSpan limit)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = groupId,
            EnableAutoCommit = false,
        }).Build();
        var partitions = endOffsets.Keys.ToList();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var committed = consumer.Committed(partitions, TimeSpan.FromSeconds(10));
            if (committed.All(c => !c.Offset.IsSpecial && c.Offset.Value >= endOffsets[c.TopicPartition]))
            {
                return Stopwatch.GetTimestamp();
            }

            Thread.Sleep(10);
        }

        return null;
    }
}
