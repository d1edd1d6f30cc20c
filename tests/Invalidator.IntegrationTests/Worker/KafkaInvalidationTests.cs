using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Hosting;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>The worker end to end: Debezium records on a real Kafka-protocol broker, deletes in two real Redis servers.</summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaInvalidationTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys:
              - "customer:{id}"
              - "customer:email:{email|lower}"
            tags: ["tenant:{tenant_id}"]
        """;

    private static object Customer(int id, string email, int tenant = 1) => new { id, email, name = "N", tenant_id = tenant };

    [Fact]
    public async Task Email_change_deletes_old_and_new_email_keys_and_the_id_key_in_both_regions()
    {
        await using var harness = new WorkerHarness(servers, Rules, "email");
        await harness.CreateTopicAsync();
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        string[] stale = ["customer:7", "customer:email:old@example.com", "customer:email:new@example.com"];
        string[] unrelated = ["customer:8", "customer:email:other@example.com", "order:7"];
        await regions.SetAsync([.. stale, .. unrelated]);

        await harness.StartAsync();
        await harness.ProduceAsync(Debezium.Envelope("u", Customer(7, "Old@Example.com"), Customer(7, "new@example.com")));

        await Eventually.AssertAsync(() => regions.NoneExistAsync(stale), Deadline, "the id key and both email keys are deleted in both regions");
        Assert.True(await regions.AllExistAsync(unrelated), "keys of other rows must stay");
    }

    [Fact]
    public async Task A_tag_deletes_its_members_and_empties_its_set()
    {
        await using var harness = new WorkerHarness(servers, Rules, "tags");
        await harness.CreateTopicAsync();
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        string[] members = ["report:tenant5:a", "report:tenant5:b", "page:tenant5:home"];
        await regions.SetAsync([.. members, "report:tenant6:a"]);
        foreach (var db in regions.Regions)
        {
            await db.SetAddAsync(harness.KeyPrefix + "tag:tenant:5", members.Select(m => (RedisValue)m).ToArray());
            await db.SetAddAsync(harness.KeyPrefix + "tag:tenant:6", "report:tenant6:a");
        }

        await harness.StartAsync();
        await harness.ProduceAsync(Debezium.Envelope("c", null, Customer(1, "a@b.c", tenant: 5)));

        await Eventually.AssertAsync(() => regions.NoneExistAsync([.. members, "tag:tenant:5"]), Deadline, "every member of tag:tenant:5 and the set are deleted");
        Assert.True(await regions.AllExistAsync(["report:tenant6:a", "tag:tenant:6"]), "another tag's members stay");
    }

    [Fact]
    public async Task Tombstones_heartbeats_and_transaction_records_are_acknowledged_without_deletes()
    {
        await using var harness = new WorkerHarness(servers, Rules, "noop");
        await harness.CreateTopicAsync(partitions: 1);
        var heartbeats = "__debezium-heartbeat." + ServersFixture.UniqueName("hb");
        var transactions = ServersFixture.UniqueName("tx") + ".transaction";
        await servers.Kafka.CreateTopicAsync(heartbeats, 1);
        await servers.Kafka.CreateTopicAsync(transactions, 1);
        harness.Settings["Invalidator:Kafka:Topics:1"] = heartbeats;
        harness.Settings["Invalidator:Kafka:Topics:2"] = transactions;
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["customer:1", "customer:email:a@b.c"]);

        await harness.ProduceAsync(null, key: """{"id":1}""");
        await servers.Kafka.ProduceAsync(heartbeats, 0, """{"serverName":"dbserver1"}""", """{"ts_ms":1700000000000}""");
        await servers.Kafka.ProduceAsync(transactions, 0, """{"id":"571:53195829"}""", """{"status":"BEGIN","id":"571:53195829","event_count":null,"data_collections":null,"ts_ms":1700000000000}""");
        await harness.StartAsync();

        foreach (var topic in new[] { harness.Topic, heartbeats, transactions })
        {
            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, topic) == 0, Deadline, $"{topic} is committed to its end");
        }

        Assert.True(await regions.AllExistAsync(["customer:1", "customer:email:a@b.c"]), "nothing is deleted");
    }

    [Fact]
    public async Task Offsets_are_committed_only_after_the_deletes_so_a_crash_in_between_reapplies_on_restart()
    {
        await using var harness = new WorkerHarness(servers, Rules, "crash");
        await harness.CreateTopicAsync(partitions: 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        string[] keys = ["customer:3", "customer:email:c@d.e"];
        await regions.SetAsync(keys);
        await harness.ProduceAsync(Debezium.Envelope("u", Customer(3, "c@d.e"), Customer(3, "c@d.e")));

        // The first worker deletes, then dies before it can store the offset.
        var crash = new CrashAfterApply();
        var first = await harness.StartAsync(crash);
        await Eventually.AssertAsync(() => crash.Crashed, Deadline, "the first worker applies the batch and crashes");
        Assert.True(await regions.NoneExistAsync(keys), "the deletes happened before the crash");
        await CrashAfterApply.WaitForStopAsync(first, Deadline);
        var committed = await servers.Kafka.GetCommittedOffsetsAsync(harness.GroupId, harness.Topic);
        Assert.All(committed.Values, offset => Assert.Null(offset));

        // A reader re-populates from the old row; the restarted worker must apply the change again.
        await regions.SetAsync(keys);
        await harness.StartAsync();

        await Eventually.AssertAsync(() => regions.NoneExistAsync(keys), Deadline, "the restarted worker re-applies the unacknowledged batch");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "and then commits it");
    }

    [Fact]
    public async Task A_restarted_worker_resumes_from_committed_offsets()
    {
        await using var harness = new WorkerHarness(servers, Rules, "resume");
        await harness.CreateTopicAsync(partitions: 2);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await harness.ProduceAsync(Debezium.Envelope("d", Customer(1, "one@x.y"), null), partition: 0);
        await harness.ProduceAsync(Debezium.Envelope("d", Customer(2, "two@x.y"), null), partition: 1);

        var first = await harness.StartAsync();
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the first worker commits both records");
        await WorkerHosts.StopAsync(first);

        // Keys of the committed records come back (a later cache fill); they must not be deleted again.
        string[] committedKeys = ["customer:1", "customer:2"];
        await regions.SetAsync([.. committedKeys, "customer:9"]);
        await harness.ProduceAsync(Debezium.Envelope("d", Customer(9, "nine@x.y"), null), partition: 0);
        await harness.StartAsync();

        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:9"]), Deadline, "the new record is applied");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "and committed");
        Assert.True(await regions.AllExistAsync(committedKeys), "records committed before the restart are not read again");
    }

    [Fact]
    public async Task Undecodable_records_go_to_the_dead_letter_topic_with_the_reason_and_consumption_continues()
    {
        await using var harness = new WorkerHarness(servers, Rules, "poison");
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["customer:4"]);
        var poison = await harness.ProduceAsync("{not json", key: "k1");
        await harness.ProduceAsync(Debezium.Envelope("d", Customer(4, "f@g.h"), null));

        await harness.StartAsync();

        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:4"]), Deadline, "the record after the poison one is applied");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "both records are acknowledged");
        var dead = ReadOne(harness.DeadLetterTopic);
        Assert.Equal("{not json", System.Text.Encoding.UTF8.GetString(dead.Message.Value));
        Assert.Equal("k1", System.Text.Encoding.UTF8.GetString(dead.Message.Key));
        Assert.Contains("JSON", Header(dead, DeadLetterKinds.ReasonHeader), StringComparison.OrdinalIgnoreCase);
        Assert.Equal(harness.Topic, Header(dead, DeadLetterKinds.SourceTopicHeader));
        Assert.Equal(poison.Offset.Value.ToString(System.Globalization.CultureInfo.InvariantCulture), Header(dead, DeadLetterKinds.SourceOffsetHeader));
    }

    [Fact]
    public async Task A_dead_letter_topic_that_does_not_exist_yet_is_said_once_at_information_level_never_as_an_error()
    {
        await using var harness = new WorkerHarness(servers, Rules, "nodlq");
        await harness.CreateTopicAsync(partitions: 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["customer:5"]);
        await harness.ProduceAsync(Debezium.Envelope("d", Customer(5, "e@f.g"), null));
        await harness.StartAsync();

        // Nothing was ever dead-lettered, so the topic the redrive of each region subscribes to is absent.
        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:5"]), Deadline, "the worker applies the record");
        await Eventually.AssertAsync(() => harness.Logs.Count(4002) > 0, Deadline, "the redrive reports the absent dead-letter topic");
        Assert.Equal(1, harness.Logs.Count(4002));
        var complaints = harness.Logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning && e.Message.Contains(harness.DeadLetterTopic, StringComparison.Ordinal)).ToList();
        Assert.True(complaints.Count == 0, string.Join("\n", complaints.Select(e => $"{e.Level} {e.Category}[{e.EventId}] {e.Message}")));
    }

    private ConsumeResult<byte[], byte[]> ReadOne(string topic)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("reader"))).Build();
        consumer.Assign(new TopicPartitionOffset(topic, 0, Offset.Beginning));
        return consumer.Consume(Deadline) ?? throw new Xunit.Sdk.XunitException($"nothing on {topic}");
    }

    private static string Header(ConsumeResult<byte[], byte[]> record, string name) =>
        System.Text.Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));
}
