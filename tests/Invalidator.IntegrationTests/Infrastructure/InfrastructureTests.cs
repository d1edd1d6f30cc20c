using Invalidator.KafkaMock;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure.Kafka;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure;

/// <summary>Proves the shared servers are real and behave as scenario tests expect.</summary>
[Collection(ServersCollection.Name)]
public sealed class InfrastructureTests(ServersFixture servers)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Fact]
    public async Task Kafka_consumer_group_reads_all_partitions_and_its_commits_read_back()
    {
        var topic = ServersFixture.UniqueName("infra-topic");
        var group = ServersFixture.UniqueName("infra-group");
        await servers.Kafka.CreateTopicAsync(topic, partitions: 3);
        await servers.Kafka.ProduceManyAsync(topic, Enumerable.Range(0, 30).Select(i => (i % 3, (string?)$"k{i}", (string?)$"v{i}")));
        await servers.Kafka.ProduceAsync(topic, 2, "deleted-row", null); // a tombstone

        var consumed = new List<ConsumeResult<string, string?>>();
        using (var consumer = new ConsumerBuilder<string, string?>(servers.Kafka.CreateConsumerConfig(group)).Build())
        {
            consumer.Subscribe(topic);
            await Eventually.AssertAsync(
                () =>
                {
                    if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { } result)
                    {
                        consumed.Add(result);
                    }

                    return consumed.Count == 31;
                },
                Timeout,
                "the group consumes every record once");
            consumer.Commit();
            consumer.Close();
        }

        Assert.Equal([0, 1, 2], consumed.Select(r => r.Partition.Value).Distinct().Order());
        Assert.Null(Assert.Single(consumed, r => r.Message.Key == "deleted-row").Message.Value);
        var committed = await servers.Kafka.GetCommittedOffsetsAsync(group, topic);
        Assert.Equal(new Dictionary<int, long?> { [0] = 10, [1] = 10, [2] = 11 }, committed);
        Assert.Equal(0, await servers.Kafka.GetLagAsync(group, topic));
    }

    [Fact]
    public async Task Kafka_committed_offsets_are_null_for_a_group_that_never_committed()
    {
        var topic = ServersFixture.UniqueName("infra-topic");
        await servers.Kafka.CreateTopicAsync(topic, partitions: 2);
        await servers.Kafka.ProduceAsync(topic, 1, "k", "v");

        var committed = await servers.Kafka.GetCommittedOffsetsAsync(ServersFixture.UniqueName("infra-group"), topic);

        Assert.Equal(new Dictionary<int, long?> { [0] = null, [1] = null }, committed);
        Assert.Equal(new Dictionary<int, long> { [0] = 0, [1] = 1 }, await servers.Kafka.GetEndOffsetsAsync(topic));
    }

    [Fact]
    public async Task Redis_set_and_delete_work_in_both_regions()
    {
        var key = ServersFixture.UniqueName("infra") + ":user:1";
        foreach (var region in servers.Regions)
        {
            await using var redis = await servers.Redis.ConnectAsync(servers.RegionIndex(region));
            var db = redis.GetDatabase();
            Assert.True(await db.StringSetAsync(key, region));
            Assert.Equal(region, (string?)await db.StringGetAsync(key));
            Assert.True(await db.KeyDeleteAsync(key));
            Assert.False(await db.KeyDeleteAsync(key)); // deleting twice is harmless
        }

        Assert.NotEqual(servers.RedisConnectionString("east"), servers.RedisConnectionString("west"));
    }

    [Fact]
    public async Task Redis_server_killed_and_restarted_answers_again_on_the_same_address()
    {
        var address = servers.Redis.ConnectionString(ServersFixture.West);
        await using var redis = await servers.Redis.ConnectAsync(ServersFixture.West);
        var db = redis.GetDatabase();
        await db.PingAsync();

        await servers.Redis.KillAsync(ServersFixture.West);
        await Assert.ThrowsAnyAsync<RedisException>(() => db.PingAsync());

        await servers.Redis.StartAsync(ServersFixture.West);
        Assert.Equal(address, servers.Redis.ConnectionString(ServersFixture.West));
        await Eventually.AssertAsync(
            async () =>
            {
                await db.PingAsync();
                return true;
            },
            Timeout,
            "the existing connection reconnects to the restarted server");
    }

    [Fact]
    public async Task Kafka_mock_cluster_injects_request_errors_and_broker_outages()
    {
        // Its own cluster, so the faults cannot reach the shared broker; the mock runs with or without Docker.
        using var mock = new KafkaMockCluster();
        mock.CreateTopic("faults", partitions: 1);
        using var producer = new ProducerBuilder<Null, string>(new ProducerConfig
        {
            BootstrapServers = mock.BootstrapServers,
            MessageTimeoutMs = 20_000,
        }).Build();
        var message = new Message<Null, string> { Value = "v" };
        await producer.ProduceAsync("faults", message);

        mock.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.MsgSizeTooLarge);
        var rejected = await Assert.ThrowsAsync<ProduceException<Null, string>>(() => producer.ProduceAsync("faults", message));
        Assert.Equal(ErrorCode.MsgSizeTooLarge, rejected.Error.Code);
        mock.ClearRequestErrors(KafkaApiKey.Produce);

        mock.SetBrokerDown(1);
        var pending = producer.ProduceAsync("faults", message);
        // A negative check needs a window: delivery must not happen while the broker is down.
        Assert.NotSame(pending, await Task.WhenAny(pending, Task.Delay(TimeSpan.FromMilliseconds(500))));
        mock.SetBrokerUp(1);
        var delivered = await pending.WaitAsync(Timeout);
        Assert.Equal(1, delivered.Offset.Value); // the rejected record was not appended
    }
}
