using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Sources.Kafka;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// Where a newly assigned partition starts (<see cref="StartPositions"/>), asked of a real broker: a partition the group
/// committed is left to librdkafka (its committed offset), one it never committed starts at the reset position at
/// once, and when the coordinator does not answer every partition is left to librdkafka.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class StartPositionsTests(ServersFixture servers)
{
    // Offset.Beginning is -2, Offset.End -1, Offset.Unset -1001 (librdkafka's logical offsets).
    [Theory]
    [InlineData("earliest", -2)]
    [InlineData("smallest", -2)]
    [InlineData("latest", -1)]
    [InlineData("largest", -1)]
    [InlineData("error", -1001)]
    [InlineData("not-a-setting", -1001)]
    public async Task Only_partitions_the_group_never_committed_get_the_reset_position(string reset, long expected)
    {
        var topic = $"start-positions-{Guid.NewGuid():N}";
        var group = $"{topic}-group";
        await servers.Kafka.CreateTopicAsync(topic, partitions: 3);
        for (var partition = 0; partition < 3; partition++)
        {
            await servers.Kafka.ProduceAsync(topic, partition, "k", "v");
            await servers.Kafka.ProduceAsync(topic, partition, "k", "v");
        }

        using var consumer = new ConsumerBuilder<byte[], byte[]>(servers.Kafka.CreateConsumerConfig(group)).Build();
        // The group committed partition 1 only (offset 1: its second record is next).
        consumer.Commit([new TopicPartitionOffset(topic, 1, 1)]);
        var partitions = Enumerable.Range(0, 3).Select(p => new TopicPartition(topic, p)).ToList();

        var starts = StartPositions.For(consumer, partitions, StartPositions.ResetOffset(reset)).ToList();

        var expectedReset = new Offset(expected);
        Assert.Equal(partitions, starts.Select(s => s.TopicPartition));
        Assert.Equal([expectedReset, Offset.Unset, expectedReset], starts.Select(s => s.Offset));
    }

    [Fact]
    public async Task A_coordinator_that_does_not_answer_leaves_every_partition_to_librdkafka()
    {
        // A port nothing listens on: the committed offsets cannot be fetched.
        using var consumer = new ConsumerBuilder<byte[], byte[]>(new ConsumerConfig { BootstrapServers = "127.0.0.1:1", GroupId = $"unreachable-{Guid.NewGuid():N}" }).Build();
        var partitions = new List<TopicPartition> { new("t", 0), new("t", 1) };

        var starts = await Task.Run(() => StartPositions.For(consumer, partitions, Offset.Beginning, TimeSpan.FromMilliseconds(300)).ToList());

        Assert.Equal([Offset.Unset, Offset.Unset], starts.Select(s => s.Offset));
    }
}
