using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.IntegrationTests.Sizes;

/// <summary><c>Invalidator:DeadLetter:Redact</c> on the dead-letter topic: a poison letter keeps only the record key and the reason.</summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaDeadLetterRedactTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.t:
            keys: ["customer:{id}"]
        """;

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_poison_letter_keeps_only_the_key_and_the_reason_when_redacted_and_the_whole_record_otherwise(bool redact)
    {
        await using var harness = new WorkerHarness(servers, Rules, redact ? "redact" : "redactctl");
        harness.Settings["Invalidator:DeadLetter:Redact"] = redact ? "true" : "false";
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        using (var producer = new ProducerBuilder<string, string>(new ProducerConfig { BootstrapServers = servers.Kafka.BootstrapServers }).Build())
        {
            await producer.ProduceAsync(harness.Topic, new Message<string, string>
            {
                Key = """{"id":1}""",
                // Truncated: undecodable, so poison.
                Value = """{"op":"u","after":{"id":1,"email":"carol@example.com""" + "\"",
                Headers = new Headers { { "trace", Encoding.UTF8.GetBytes("carol@example.com") } },
            });
        }

        await harness.StartAsync();
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the poison record is dead-lettered and acknowledged");

        using var consumer = new ConsumerBuilder<byte[], byte[]?>(servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("reader"))).Build();
        consumer.Assign(new TopicPartitionOffset(harness.DeadLetterTopic, 0, Offset.Beginning));
        var letter = consumer.Consume(Deadline) ?? throw new Xunit.Sdk.XunitException("nothing on the dead-letter topic");
        var headers = letter.Message.Headers.ToDictionary(h => h.Key, h => Encoding.UTF8.GetString(h.GetValueBytes()));
        Assert.Equal("""{"id":1}""", Encoding.UTF8.GetString(letter.Message.Key));
        Assert.Contains("JSON", headers[DeadLetterKinds.ReasonHeader], StringComparison.OrdinalIgnoreCase);
        Assert.Equal(harness.Topic, headers[DeadLetterKinds.SourceTopicHeader]);
        if (redact)
        {
            Assert.Null(letter.Message.Value);
            Assert.Equal("true", headers[DeadLetterKinds.RedactedHeader]);
            Assert.DoesNotContain(headers.Values, v => v.Contains("carol", StringComparison.Ordinal));
            Assert.All(headers.Keys, k => Assert.StartsWith("invalidator.", k, StringComparison.Ordinal));
        }
        else
        {
            Assert.Contains("carol@example.com", Encoding.UTF8.GetString(letter.Message.Value!), StringComparison.Ordinal);
            Assert.Equal("carol@example.com", headers["trace"]);
            Assert.False(headers.ContainsKey(DeadLetterKinds.RedactedHeader));
        }
    }
}
