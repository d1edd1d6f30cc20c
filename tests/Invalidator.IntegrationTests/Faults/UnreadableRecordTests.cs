using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Sources.Kafka;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// Issue 17 §0: a record whose decoding threw was skipped and its offset committed past it, with no letter. Now a value
/// the decoder cannot read is no value (a time out of range is no time), and anything else that throws makes the
/// record poison: dead-lettered with the reason in both sources, the stream going on.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class UnreadableRecordTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>The issue's rule and example record: microseconds in <c>source.ts_ms</c>.</summary>
    private const string Rules = """
        tables:
          public.t:
            keys: ["t:{id}"]
        """;

    private const string Example = """{"op":"c","after":{"id":1},"source":{"schema":"public","table":"t","ts_ms":1562202942666382}}""";

    [Fact]
    public async Task The_issue_s_record_with_microseconds_in_ts_ms_is_applied_before_its_offset_is_committed()
    {
        await using var harness = new WorkerHarness(servers, Rules, "tsunit");
        await harness.CreateTopicAsync(partitions: 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["t:1", "t:2"]);

        await harness.ProduceAsync(Example);
        await harness.ProduceAsync("""{"op":"u","after":{"id":2},"source":{"schema":"public","table":"t","ts_ms":1712000000000}}""");
        await harness.StartAsync();

        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "both records are acknowledged");
        // Before the fix the offset was committed past the example with its key still cached and no letter written.
        Assert.True(await regions.NoneExistAsync(["t:1"]), "the example's key is deleted in both regions before its offset is committed");
        Assert.True(await regions.NoneExistAsync(["t:2"]), "the record after it is applied too");
    }

    /// <summary>
    /// What the Kafka source's defence rests on: when a deserializer throws, Confluent wraps the exception in a
    /// <see cref="ConsumeException"/> carrying the raw record, and librdkafka has already moved past it, so the next
    /// stored offset would commit past the record. <see cref="KafkaChangeSource.Undeserializable"/> hands that raw
    /// record to the dead letter.
    /// </summary>
    [Fact]
    public async Task A_deserializer_that_throws_leaves_the_raw_record_in_the_consume_exception_and_the_consumer_past_it()
    {
        var topic = ServersFixture.UniqueName("throwing.public.t");
        await servers.Kafka.CreateTopicAsync(topic, 1);
        await servers.Kafka.ProduceAsync(topic, 0, """{"id":1}""", Example);
        await servers.Kafka.ProduceAsync(topic, 0, """{"id":2}""", "after");

        var config = servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("throwing"));
        config.AutoOffsetReset = AutoOffsetReset.Earliest;
        using var consumer = new ConsumerBuilder<string, string>(config).SetValueDeserializer(new ThrowingOnce()).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));

        var thrown = Assert.Throws<ConsumeException>(() => consumer.Consume(Deadline));

        var raw = KafkaChangeSource.Undeserializable(thrown);
        Assert.NotNull(raw);
        Assert.Equal(0, raw.Offset.Value);
        Assert.Equal(topic, raw.Topic);
        Assert.Equal("""{"id":1}""", Encoding.UTF8.GetString(raw.Message.Key));
        Assert.Equal(Example, Encoding.UTF8.GetString(raw.Message.Value));
        Assert.IsType<ArgumentOutOfRangeException>(thrown.InnerException);
        var next = consumer.Consume(Deadline);
        Assert.Equal(1, next?.Offset.Value);
    }

    /// <summary>Throws for the first value, as the decoder did for the issue's record; reads the rest as text.</summary>
    private sealed class ThrowingOnce : IDeserializer<string>
    {
        private int _calls;

        public string Deserialize(ReadOnlySpan<byte> data, bool isNull, SerializationContext context) =>
            Interlocked.Increment(ref _calls) == 1
                ? throw new ArgumentOutOfRangeException(nameof(data), "Valid values are between -62135596800000 and 253402300799999, inclusive.")
                : Encoding.UTF8.GetString(data);
    }
}
