using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>Bad records go to the dead-letter topic with their reason; consumption goes on.</summary>
[Collection(ServersCollection.Name)]
public sealed class PoisonCorpusTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Each_bad_record_lands_where_it_should_with_its_reason_and_consumption_continues()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "poison");
        await harness.CreateTopicAsync(partitions: 2);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await keys.SetAsync(["customer:1", "customer:2"]);
        var valid = FaultSettings.Customer(1);
        // 5 MB (not MiB): the mock broker keeps at most 5 MiB per partition, so this record gets a partition of its own.
        var oversized = Debezium.Envelope("u", null, new { id = 9, email = "x", name = new string('n', 5_000_000 - 300), tenant_id = 1 });
        var corpus = new (string Name, byte[]? Value, string? Reason)[]
        {
            ("malformed JSON", "{\"op\": \"u\", \"after\": {\"id\": 1,"u8.ToArray(), "JSON"),
            ("truncated envelope", Encoding.UTF8.GetBytes(valid[..(valid.Length / 2)]), "JSON"),
            ("binary garbage", [0x00, 0x00, 0x00, 0x00, 0x2a, 0xff, 0xfe, 0x13, 0x37, 0x00, 0x80], ""),
            ("5 MB value", Encoding.UTF8.GetBytes(oversized), "MaxRecordBytes"),
            ("unknown op", Encoding.UTF8.GetBytes(valid.Replace("\"op\":\"d\"", "\"op\":\"x\"", StringComparison.Ordinal)), "op"),
            ("table without a rule", Encoding.UTF8.GetBytes(Debezium.Envelope("c", null, new { id = 3 }, table: "audit_log")), null),
        };

        using var outcomes = new RecordOutcomes(harness.Topic);
        using var producer = new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = servers.Kafka.BootstrapServers,
            MessageMaxBytes = 8 * 1024 * 1024,
        }).Build();
        var offsets = new Dictionary<string, long>();
        foreach (var (name, value, _) in corpus)
        {
            var partition = value?.Length > 1_000_000 ? 1 : 0;
            var delivered = await producer.ProduceAsync(
                new TopicPartition(harness.Topic, partition),
                new Message<byte[]?, byte[]?> { Key = CaseKey(name), Value = value });
            offsets[name] = delivered.Offset.Value;
        }

        await harness.ProduceAsync(FaultSettings.Customer(2));
        await harness.StartAsync();

        await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:2"]), Deadline, "the good record after the corpus is applied");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "every record is acknowledged");
        Assert.True(await keys.AllExistAsync(["customer:1"]), "nothing is deleted for poison records");

        var dead = ReadAll(harness.DeadLetterTopic, corpus.Count(c => c.Reason is not null));
        foreach (var (name, value, reason) in corpus.Where(c => c.Reason is not null))
        {
            var letter = Assert.Single(dead, d => d.Message.Key.AsSpan().SequenceEqual(CaseKey(name)));
            Assert.Equal(value, letter.Message.Value);
            Assert.Equal(DeadLetterKinds.Poison, Header(letter, DeadLetterKinds.KindHeader));
            Assert.Equal(harness.Topic, Header(letter, DeadLetterKinds.SourceTopicHeader));
            Assert.Equal(offsets[name].ToString(System.Globalization.CultureInfo.InvariantCulture), Header(letter, DeadLetterKinds.SourceOffsetHeader));
            Assert.Contains(reason!, Header(letter, DeadLetterKinds.ReasonHeader), StringComparison.OrdinalIgnoreCase);
        }

        Assert.DoesNotContain(dead, d => d.Message.Key.AsSpan().SequenceEqual(CaseKey("table without a rule")));
        Assert.Equal(5, await servers.Kafka.GetEndOffsetsAsync(harness.DeadLetterTopic).ContinueWith(t => t.Result.Values.Sum(), TaskScheduler.Default));
        Assert.Equal(1, outcomes.Of("no_rule"));
    }

    // Record keys are JSON objects, like Debezium's: the decoder dead-letters any other key.
    private static byte[] CaseKey(string name) => Encoding.UTF8.GetBytes(System.Text.Json.JsonSerializer.Serialize(new { @case = name }));

    private List<ConsumeResult<byte[], byte[]>> ReadAll(string topic, int count)
    {
        var config = servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("reader"));
        config.MaxPartitionFetchBytes = 16 * 1024 * 1024; // the 5 MB record must fit in a fetch
        config.FetchMaxBytes = 32 * 1024 * 1024;
        using var consumer = new ConsumerBuilder<byte[], byte[]>(config).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        var records = new List<ConsumeResult<byte[], byte[]>>();
        while (records.Count < count)
        {
            records.Add(consumer.Consume(Deadline) ?? throw new Xunit.Sdk.XunitException($"only {records.Count} of {count} records on {topic}"));
        }

        return records;
    }

    private static string Header(ConsumeResult<byte[], byte[]> record, string name) =>
        Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));
}
