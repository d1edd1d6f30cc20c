using System.Text;
using Confluent.Kafka;
using Invalidator.Core.Planning;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Invalidator.Worker.Sources.Kafka;

namespace Invalidator.Worker.DeadLetters;

/// <summary>What <c>dlq replay</c> did.</summary>
public sealed record ReplayReport(
    int Read,
    int Poison,
    int Matched,
    int Replanned,
    int StillPoison,
    int RegionLetters,
    int Keys,
    int Tags,
    IReadOnlyList<string> Regions,
    bool DryRun,
    IReadOnlyList<string> Failures)
{
    public override string ToString()
    {
        var verb = DryRun ? "would apply" : "applied";
        return $"read {Read} dead letters: {Poison} poison, {Matched} matching; {Replanned} re-planned, {StillPoison} still undecodable; " +
            $"{verb} {Keys} keys and {Tags} tags to {string.Join(", ", Regions)}; {RegionLetters} region letters left to the redrive" +
            (Failures.Count > 0 ? $"; FAILED in {string.Join(", ", Failures)}" : "");
    }
}

/// <summary>
/// Re-plans poison records from the dead-letter topic with the current rules (after a rules fix) and applies
/// them. It reads the topic from the beginning to its current end without a consumer group, so it can be run
/// again at will: repeated deletes are harmless.
/// </summary>
internal sealed class DeadLetterReplay(InvalidatorOptions options, ChangeRecordPlanner planner, RegionSet regions)
{
    public async Task<ReplayReport> RunAsync(string? region, string? reason, bool dryRun, TextWriter log, CancellationToken cancellationToken)
    {
        var targets = region is null ? regions.Regions : [regions.Find(region) ?? throw new ArgumentException(
            $"Unknown region '{region}'; configured: {string.Join(", ", regions.Regions.Select(r => r.Name))}", nameof(region))];
        var config = KafkaConsumerSettings.Build(options.Kafka);
        config.GroupId = "invalidator-replay-" + Guid.NewGuid().ToString("N");
        config.EnableAutoCommit = false;
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();

        var batch = new InvalidationBatch();
        int read = 0, poison = 0, matched = 0, replanned = 0, stillPoison = 0, regionLetters = 0;
        foreach (var (partition, end) in Ends(consumer, options.DeadLetter.Topic))
        {
            consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var record = consumer.Consume(TimeSpan.FromSeconds(10)) ?? throw new TimeoutException($"Reading {partition} stopped before its end offset {end}.");
                read++;
                var kind = Header(record, DeadLetterPublisher.KindHeader);
                if (kind == RegionDeadLetter.Kind)
                {
                    regionLetters++;
                }
                else if (kind == DeadLetterPublisher.PoisonKind)
                {
                    poison++;
                    if (reason is null || (Header(record, DeadLetterPublisher.ReasonHeader) ?? "").Contains(reason, StringComparison.OrdinalIgnoreCase))
                    {
                        matched++;
                        var sourceTopic = Header(record, DeadLetterPublisher.SourceTopicHeader) ?? record.Topic;
                        var planned = planner.Add(sourceTopic, record.Message.Key, record.Message.Value, batch, options.DeadLetter.MaxRecordBytes);
                        if (planned.IsPoison)
                        {
                            stillPoison++;
                            await log.WriteLineAsync($"still poison: {Header(record, DeadLetterPublisher.SourceTopicHeader)}[{Header(record, DeadLetterPublisher.SourcePartitionHeader)}]@{Header(record, DeadLetterPublisher.SourceOffsetHeader)}: {planned.PoisonReason}").ConfigureAwait(false);
                        }
                        else
                        {
                            replanned++;
                        }
                    }
                }

                if (record.Offset.Value >= end - 1)
                {
                    break;
                }
            }
        }

        var failures = new List<string>();
        if (!dryRun)
        {
            foreach (var failure in await regions.ApplyAsync(batch, cancellationToken, targets).ConfigureAwait(false))
            {
                failures.Add($"{failure.Region} ({failure.InnerException?.Message})");
            }
        }

        return new ReplayReport(read, poison, matched, replanned, stillPoison, regionLetters, batch.Keys.Count, batch.Tags.Count,
            targets.Select(t => t.Name).ToList(), dryRun, failures);
    }

    /// <summary>Partitions of the topic that hold records, with their end offsets at the start of the replay.</summary>
    private static List<(TopicPartition Partition, long End)> Ends(IConsumer<byte[]?, byte[]?> consumer, string topic)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var metadata = admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
        var partitions = metadata.Topics.SingleOrDefault(t => t.Topic == topic)?.Partitions ?? [];
        var ends = new List<(TopicPartition, long)>();
        foreach (var p in partitions)
        {
            var partition = new TopicPartition(topic, p.PartitionId);
            var marks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
            if (marks.High.Value > marks.Low.Value)
            {
                ends.Add((partition, marks.High.Value));
            }
        }

        return ends;
    }

    private static string? Header(ConsumeResult<byte[]?, byte[]?> record, string name) =>
        record.Message.Headers is { } headers && headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;
}
