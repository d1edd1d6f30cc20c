using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Kafka;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>Reads a dead-letter topic (one partition) from its start to its current end, as region letters.</summary>
internal static class RegionLetters
{
    /// <summary>Every letter on the topic so far; each must be a region letter. Empty while the topic is.</summary>
    public static List<RegionDeadLetter> ReadAll(KafkaBroker broker, string topic, TimeSpan deadline)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(broker.CreateConsumerConfig(ServersFixture.UniqueName("letters"))).Build();
        var partition = new TopicPartition(topic, 0);
        var end = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10)).High.Value;
        var letters = new List<RegionDeadLetter>();
        if (end == 0)
        {
            return letters;
        }

        consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
        while (true)
        {
            var record = consumer.Consume(deadline) ?? throw new Xunit.Sdk.XunitException($"{topic} ended early");
            Assert.Equal("region", Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(DeadLetterKinds.KindHeader)));
            letters.Add(RegionDeadLetter.FromJson(record.Message.Value));
            if (record.Offset.Value >= end - 1)
            {
                return letters;
            }
        }
    }
}
