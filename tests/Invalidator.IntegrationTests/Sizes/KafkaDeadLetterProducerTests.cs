using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Faults;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Kafka;
using Invalidator.IntegrationTests.Worker;
using Invalidator.KafkaMock;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Invalidator.IntegrationTests.Sizes;

/// <summary>
/// Kafka mode's dead-letter producer: created and checked at start, and a letter larger than the topic accepts is
/// split (region letters) or stored as a reference (poison), never retried forever.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaDeadLetterProducerTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Keys of about 130 bytes, so a few dozen of them make a letter larger than the limits below.</summary>
    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}:{email}"]
        """;

    private const int ProducerLimit = 2000;

    private static string Change(int id) =>
        Debezium.Envelope("d", new { id, email = $"c{id}-{new string('e', 110)}@example.com" }, null);

    private static string Key(int id) => $"customer:{id}:c{id}-{new string('e', 110)}@example.com";

    [Fact]
    public async Task A_dead_letter_producer_that_cannot_reach_its_brokers_stops_the_start_with_the_fix_and_a_reachable_one_is_checked_at_start()
    {
        await using var control = new WorkerHarness(servers, Rules, "dlqcheckok");
        await control.CreateTopicAsync(partitions: 1);
        var host = await control.StartAsync();
        await Eventually.AssertAsync(() => control.Logs.Count(8082) == 1, Deadline, "the producer is created and its topic checked at start, before any letter");
        Assert.Contains("does not exist yet", control.Logs.Entries.Single(e => e.EventId == 8082).Message, StringComparison.Ordinal);
        Assert.Equal(0, host.Services.GetRequiredService<WorkerExit>().Code);

        await using var harness = new WorkerHarness(servers, Rules, "dlqcheck");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Kafka:StartupTimeout"] = "00:00:02";
        harness.Settings["Invalidator:Kafka:Producer:bootstrap.servers"] = "127.0.0.1:1";
        var failed = await harness.StartAsync();
        var exit = failed.Services.GetRequiredService<WorkerExit>();
        await Eventually.AssertAsync(() => exit.Code != 0, Deadline, "the start fails");
        Assert.Equal(ExitCodes.Failure, exit.Code);
        var message = Assert.Single(harness.Logs.Entries, e => e.EventId == 8083).Message;
        Assert.Contains("dead-letter producer cannot reach Kafka", message, StringComparison.Ordinal);
        Assert.Contains("security.protocol, sasl.* and ssl.*", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_dead_letter_topic_the_worker_may_not_use_stops_the_start_with_the_grant_to_make()
    {
        // A private cluster: the topic error must not reach the other tests' broker.
        await using var broker = KafkaBroker.StartPrivateMock();
        await using var harness = new WorkerHarness(servers, Rules, "dlqauth") { BootstrapServers = broker.BootstrapServers };
        await broker.CreateTopicAsync(harness.Topic, 1);
        broker.MockCluster!.SetTopicError(harness.DeadLetterTopic, ErrorCode.TopicAuthorizationFailed);

        var host = await harness.StartAsync();
        var exit = host.Services.GetRequiredService<WorkerExit>();
        await Eventually.AssertAsync(() => exit.Code != 0, Deadline, "the start fails");
        Assert.Equal(ExitCodes.ConfigurationError, exit.Code);
        var message = Assert.Single(harness.Logs.Entries, e => e.EventId == 8083).Message;
        Assert.Contains($"not authorized to use the dead-letter topic {harness.DeadLetterTopic}", message, StringComparison.Ordinal);
        Assert.Contains("WRITE and DESCRIBE", message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_region_letter_larger_than_the_producer_accepts_is_split_and_every_name_is_kept()
    {
        await using var harness = new WorkerHarness(servers, Rules, "dlqsplit");
        WestDown(harness);
        harness.Settings["Invalidator:Kafka:Producer:message.max.bytes"] = ProducerLimit.ToString(CultureInfo.InvariantCulture);
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var ids = Enumerable.Range(0, 60).ToList();
        await servers.Kafka.ProduceManyAsync(harness.Topic, ids.Select(i => (0, (string?)$"{{\"id\":{i}}}", (string?)Change(i))).ToList());

        await harness.StartAsync();
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "every record is acknowledged");
        var letters = RegionLetters.ReadAll(servers.Kafka, harness.DeadLetterTopic, Deadline);
        Assert.Equal(ids.Select(Key).Order(StringComparer.Ordinal), letters.SelectMany(l => l.Keys).Distinct().Order(StringComparer.Ordinal));
        Assert.All(letters, l => Assert.True(l.ToJson().Length < ProducerLimit, $"a letter of {l.ToJson().Length} bytes"));
        Assert.True(harness.Logs.Count(8084) > 0, "a letter was split");
        Assert.Equal(0, harness.Logs.Count(4001)); // no write failed: nothing was retried
    }

    [Fact]
    public async Task A_region_letter_the_broker_refuses_as_too_large_is_split_until_it_is_taken()
    {
        await using var broker = KafkaBroker.StartPrivateMock();
        await using var harness = new WorkerHarness(servers, Rules, "dlqsplitbroker") { BootstrapServers = broker.BootstrapServers };
        WestDown(harness);
        await broker.CreateTopicAsync(harness.Topic, 1);
        await broker.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var ids = Enumerable.Range(0, 40).ToList();
        await broker.ProduceManyAsync(harness.Topic, ids.Select(i => (0, (string?)$"{{\"id\":{i}}}", (string?)Change(i))).ToList());
        // From here the worker's dead-letter producer is the only producer of this cluster: the broker refuses its first
        // three writes as too large (as a broker whose message.max.bytes is smaller than the letter would).
        broker.MockCluster!.PushRequestErrors(KafkaApiKey.Produce, ErrorCode.MsgSizeTooLarge, ErrorCode.MsgSizeTooLarge, ErrorCode.MsgSizeTooLarge);

        await harness.StartAsync();
        await Eventually.AssertAsync(async () => await broker.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "every record is acknowledged");
        var letters = RegionLetters.ReadAll(broker, harness.DeadLetterTopic, Deadline);
        Assert.Equal(ids.Select(Key).Order(StringComparer.Ordinal), letters.SelectMany(l => l.Keys).Distinct().Order(StringComparer.Ordinal));
        Assert.InRange(harness.Logs.Count(8084), 1, 3);
        Assert.Equal(0, harness.Logs.Count(4001));
    }

    [Fact]
    public async Task A_poison_record_larger_than_the_producer_accepts_is_stored_as_a_reference_and_a_small_one_whole()
    {
        await using var harness = new WorkerHarness(servers, Rules, "dlqref");
        harness.Settings["Invalidator:Kafka:Producer:message.max.bytes"] = ProducerLimit.ToString(CultureInfo.InvariantCulture);
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await keys.SetAsync([Key(1)]);
        var large = await harness.ProduceAsync("{not json " + new string('x', 3 * ProducerLimit), key: """{"id":9}""");
        var small = await harness.ProduceAsync("{not json", key: """{"id":8}""");
        await harness.ProduceAsync(Change(1), key: """{"id":1}""");

        await harness.StartAsync();
        await Eventually.AssertAsync(() => keys.NoneExistAsync([Key(1)]), Deadline, "the record behind the poison ones is applied");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "every record is acknowledged");

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("reader"))).Build();
        consumer.Assign(new TopicPartitionOffset(harness.DeadLetterTopic, 0, Offset.Beginning));
        var reference = consumer.Consume(Deadline) ?? throw new Xunit.Sdk.XunitException("no letter");
        var whole = consumer.Consume(Deadline) ?? throw new Xunit.Sdk.XunitException("no second letter");

        Assert.Null(reference.Message.Value);
        Assert.Equal("true", Header(reference, DeadLetterKinds.ReferenceHeader));
        Assert.Equal(harness.Topic, Header(reference, DeadLetterKinds.SourceTopicHeader));
        Assert.Equal("0", Header(reference, DeadLetterKinds.SourcePartitionHeader));
        Assert.Equal(large.Offset.Value.ToString(CultureInfo.InvariantCulture), Header(reference, DeadLetterKinds.SourceOffsetHeader));
        var reason = Header(reference, DeadLetterKinds.ReasonHeader);
        Assert.Contains("JSON", reason, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("MsgSizeTooLarge", reason, StringComparison.Ordinal);
        Assert.Contains($"{harness.Topic}[0]@{large.Offset.Value}", reason, StringComparison.Ordinal);

        Assert.Equal("{not json", Encoding.UTF8.GetString(whole.Message.Value!));
        Assert.Equal(small.Offset.Value.ToString(CultureInfo.InvariantCulture), Header(whole, DeadLetterKinds.SourceOffsetHeader));
        Assert.Null(whole.Message.Headers.FirstOrDefault(h => h.Key == DeadLetterKinds.ReferenceHeader));
        Assert.Equal(1, harness.Logs.Count(8084));
    }

    /// <summary>West points at a port nothing listens on: every batch's west share is dead-lettered.</summary>
    private void WestDown(WorkerHarness harness)
    {
        FaultSettings.ApplyFastResilience(harness.Settings, servers.Regions);
        harness.Settings["Invalidator:Regions:west:Redis"] = "127.0.0.1:1,abortConnect=false,connectTimeout=200";
        harness.Settings["Invalidator:DeadLetter:Redrive"] = "false";
    }

    private static string Header(ConsumeResult<byte[]?, byte[]?> record, string name) =>
        Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(name));
}
