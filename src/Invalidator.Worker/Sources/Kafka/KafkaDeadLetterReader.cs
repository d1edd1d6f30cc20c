using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary><c>dlq replay</c>'s reader of the dead-letter topic: every record, with an assign-only consumer that joins no group.</summary>
internal sealed class KafkaDeadLetterReader(IOptions<InvalidatorOptions> options) : IDeadLetterReader
{
    private static readonly TimeSpan ReplayPoll = TimeSpan.FromSeconds(10);

    private readonly KafkaOptions _kafka = options.Value.Kafka;
    private readonly string _topic = options.Value.DeadLetter.Topic;

    /// <summary>Reads the topic from the beginning to its end at the start of the call, without a consumer group.</summary>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        using var consumer = AssignedConsumer.Build(_kafka, "invalidator-replay-", partitionEof: false);
        foreach (var (partition, end) in await Task.Run(() => Ends(consumer), cancellationToken).ConfigureAwait(false))
        {
            consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var record = await Task.Run(() => consumer.Consume(ReplayPoll), cancellationToken).ConfigureAwait(false)
                    ?? throw new TimeoutException($"Reading {partition} stopped before its end offset {end}.");
                yield return Stored(record);
                if (record.Offset.Value >= end - 1)
                {
                    break;
                }
            }
        }
    }

    private static StoredDeadLetter Stored(ConsumeResult<byte[]?, byte[]?> record)
    {
        var headers = record.Message.Headers;
        var kind = KafkaHeaders.Text(headers, DeadLetterKinds.KindHeader) ?? "";
        var reason = KafkaHeaders.Text(headers, DeadLetterKinds.ReasonHeader) ?? "";
        var sourceTopic = KafkaHeaders.Text(headers, DeadLetterKinds.SourceTopicHeader) ?? record.Topic;
        var where = kind == DeadLetterKinds.Poison
            ? $"{sourceTopic}[{KafkaHeaders.Text(headers, DeadLetterKinds.SourcePartitionHeader)}]@{KafkaHeaders.Text(headers, DeadLetterKinds.SourceOffsetHeader)}"
            : record.TopicPartitionOffset.ToString();
        PoisonContent? content = null;
        if (kind == DeadLetterKinds.Poison && KafkaHeaders.Text(headers, DeadLetterKinds.ReferenceHeader) is null)
        {
            content = KafkaHeaders.Text(headers, DeadLetterKinds.FormatHeader) switch
            {
                DeadLetterKinds.ChangeFormat => ChangeOrNull(record.Message.Value),
                DeadLetterKinds.RegionNamesFormat => RegionNamesOrNull(record.Message.Value),
                _ => new RawRecordContent(sourceTopic, record.Message.Key, record.Message.Value, [], null),
            };
        }

        return new StoredDeadLetter(kind, reason, where, content, sourceTopic);

        static PoisonContent? RegionNamesOrNull(byte[]? value)
        {
            try
            {
                return new RegionNamesContent(RegionDeadLetter.FromJson(value ?? [], DeadLetterKinds.Poison));
            }
            catch (JsonException)
            {
                return null;
            }
        }

        static PoisonContent? ChangeOrNull(byte[]? value)
        {
            try
            {
                return new ChangeContent(ChangeEventJson.Read(Encoding.UTF8.GetString(value ?? [])));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                return null;
            }
        }
    }

    /// <summary>Partitions of the topic that hold records, with their end offsets now.</summary>
    private List<(TopicPartition Partition, long End)> Ends(IConsumer<byte[]?, byte[]?> consumer)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var metadata = admin.GetMetadata(_topic, TimeSpan.FromSeconds(10));
        var partitions = metadata.Topics.SingleOrDefault(t => t.Topic == _topic)?.Partitions ?? [];
        var ends = new List<(TopicPartition, long)>();
        foreach (var p in partitions)
        {
            var partition = new TopicPartition(_topic, p.PartitionId);
            var marks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
            if (marks.High.Value > marks.Low.Value)
            {
                ends.Add((partition, marks.High.Value));
            }
        }

        return ends;
    }
}
