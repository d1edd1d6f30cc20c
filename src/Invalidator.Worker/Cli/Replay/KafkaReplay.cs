using System.Text.RegularExpressions;
using Confluent.Kafka;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Sources.Kafka;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>What one replay reads and where its batches go.</summary>
internal sealed record KafkaReplaySettings(
    InvalidatorOptions Options,
    ReplayWindow Window,
    string? Table,
    IReadOnlyList<string> Regions,
    bool DryRun,
    string RulesVersion);

/// <summary>
/// <c>replay</c> in Kafka mode: finds the window's offsets per partition (<see cref="TimestampOffsets"/>), reads them
/// with a consumer of its own that assigns partitions and never subscribes or commits (so no consumer group is
/// joined and the worker's is never touched), plans every record with the current rules and applies the batches
/// through the worker's own <see cref="BatchPipeline"/>: the regions' retries and circuit breakers, and region
/// letters for a region that cannot take its share (the running worker's redrive re-applies them). Undecodable
/// records are only counted: the worker dead-lettered them when it first read them.
/// </summary>
internal sealed class KafkaReplay(KafkaReplaySettings settings, ChangeRecordPlanner planner, BatchApplier? applier, TextWriter log, TimeProvider time)
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    private readonly Dictionary<SourcePartition, long> _applied = [];
    private readonly Lock _appliedLock = new();
    private List<(TopicPartition Partition, long From, long To)> _ranges = [];

    public async Task<ReplaySummary> RunAsync(ReplayProgress progress, CancellationToken cancellationToken)
    {
        var kafka = settings.Options.Kafka;
        using var consumer = AssignedConsumer.Build(kafka, "invalidator-replay-", partitionEof: true, log);

        var topics = Topics(consumer, kafka);
        var marks = Watermarks(consumer, topics);
        var offsets = new TimestampOffsets(consumer, log, RequestTimeout, time);
        var starts = offsets.Find(marks, settings.Window.Since);
        var ends = settings.Window.Until is { } until ? offsets.Find(marks, until) : marks.ToDictionary(m => m.Partition, m => m.High);
        var ranges = marks
            .Select(m => (m.Partition, From: Math.Max(starts[m.Partition], m.Low), To: ends[m.Partition]))
            .Where(r => r.To > r.From)
            .ToList();
        _ranges = ranges;
        var summary = new ReplaySummary
        {
            Window = settings.Window,
            Topics = topics,
            Partitions = marks.Count,
            Table = settings.Table,
            Regions = settings.Regions,
            DryRun = settings.DryRun,
            RulesVersion = settings.RulesVersion,
            Ranges = ranges.Select(r => (TimestampOffsets.Name(r.Partition), r.From, r.To)).ToList(),
        };

        var total = ranges.Sum(r => r.To - r.From);
        var pipeline = applier is null ? null : new BatchPipeline(applier, new AcknowledgementTracker(settings.Options.Batching.MaxInFlight, Applied), time);
        var keys = 0L;
        try
        {
            if (ranges.Count > 0)
            {
                consumer.Assign(ranges.Select(r => new TopicPartitionOffset(r.Partition, new Offset(r.From))));
                keys = await ReadAsync(consumer, ranges, pipeline, summary, progress, total, cancellationToken).ConfigureAwait(false);
            }

            if (pipeline is not null)
            {
                await DrainAsync(pipeline.Tracker, progress, summary, total, keys, cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            if (pipeline is not null)
            {
                await pipeline.AbandonAsync().ConfigureAwait(false);
                pipeline.Tracker.Close();
            }

            consumer.Close(); // leaves nothing behind: no group was joined, nothing was committed
        }

        progress.Report(summary.Records, total, summary.Records, keys, final: true);
        summary.Seconds = progress.Elapsed.TotalSeconds;
        return summary;
    }

    /// <summary>Reads every range to its end, planning into batches and handing each full one to the pipeline; returns the keys planned.</summary>
    private async Task<long> ReadAsync(
        IConsumer<byte[]?, byte[]?> consumer,
        List<(TopicPartition Partition, long From, long To)> ranges,
        BatchPipeline? pipeline,
        ReplaySummary summary,
        ReplayProgress progress,
        long total,
        CancellationToken cancellationToken)
    {
        var open = ranges.ToDictionary(r => r.Partition, r => r.To);
        var batch = pipeline?.NewBatch() ?? new SourceBatch();
        var maxRecords = settings.Options.Batching.MaxRecords;
        var maxBytes = settings.Options.DeadLetter.MaxRecordBytes;
        var keys = 0L;
        var lastRecordAt = time.GetTimestamp();
        while (open.Count > 0)
        {
            cancellationToken.ThrowIfCancellationRequested();
            pipeline?.Tracker.ThrowIfFaulted();
            var record = consumer.Consume(Poll);
            if (record is null)
            {
                if (batch.RecordCount > 0)
                {
                    (batch, keys) = await SubmitAsync(pipeline, batch, summary, keys, cancellationToken).ConfigureAwait(false);
                }

                if (time.GetElapsedTime(lastRecordAt) > StallTimeout)
                {
                    throw new ReplayException($"reading stopped: no record for {StallTimeout.TotalSeconds:0} s before the end of {string.Join(", ", open.Keys.Select(TimestampOffsets.Name))}");
                }

                progress.Report(summary.Records, total, AppliedRecords(summary), keys);
                continue;
            }

            lastRecordAt = time.GetTimestamp();
            if (!open.TryGetValue(record.TopicPartition, out var end))
            {
                continue; // a partition already read to its end
            }

            if (record.IsPartitionEOF || record.Offset.Value >= end)
            {
                Finish(consumer, open, record.TopicPartition);
                continue;
            }

            var message = record.Message;
            var planned = planner.Add(record.Topic, message.Key, message.Value, batch.Invalidations, maxBytes);
            summary.Counted(planned.Outcome);
            batch.Track(record.Topic, record.Partition.Value, record.Offset.Value, record.Offset.Value + 1, planned.CommitTime);
            if (record.Offset.Value >= end - 1)
            {
                Finish(consumer, open, record.TopicPartition);
            }

            if (batch.RecordCount >= maxRecords)
            {
                (batch, keys) = await SubmitAsync(pipeline, batch, summary, keys, cancellationToken).ConfigureAwait(false);
            }

            progress.Report(summary.Records, total, AppliedRecords(summary), keys + batch.Invalidations.Keys.Count);
        }

        if (batch.RecordCount > 0)
        {
            (_, keys) = await SubmitAsync(pipeline, batch, summary, keys, cancellationToken).ConfigureAwait(false);
        }

        return keys;
    }

    /// <summary>Counts the batch's keys and tags, then applies it (or, in a dry run, only counts it); returns the next batch.</summary>
    private async Task<(SourceBatch Next, long Keys)> SubmitAsync(BatchPipeline? pipeline, SourceBatch batch, ReplaySummary summary, long keys, CancellationToken cancellationToken)
    {
        // Counted before the pipeline takes it: a finished batch is emptied and reused.
        var batchKeys = batch.Invalidations.Keys.Count;
        summary.Keys += batchKeys;
        summary.Tags += batch.Invalidations.Tags.Count;
        summary.Batches += batch.Invalidations.IsEmpty ? 0 : 1;
        if (pipeline is null)
        {
            batch.Reset();
            return (batch, keys + batchKeys);
        }

        var next = pipeline.NewBatch();
        await pipeline.SubmitAsync(batch, () => { }, cancellationToken).ConfigureAwait(false);
        return (next, keys + batchKeys);
    }

    /// <summary>Waits until every batch handed to the pipeline is applied (or its region letters written).</summary>
    private async Task DrainAsync(AcknowledgementTracker tracker, ReplayProgress progress, ReplaySummary summary, long total, long keys, CancellationToken cancellationToken)
    {
        while (true)
        {
            var changed = tracker.Changed;
            tracker.ThrowIfFaulted();
            if (tracker.Unfinished == 0)
            {
                return;
            }

            try
            {
                await changed.WaitAsync(TimeSpan.FromMilliseconds(250), cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                progress.Report(summary.Records, total, AppliedRecords(summary), keys);
            }
        }
    }

    private static void Finish(IConsumer<byte[]?, byte[]?> consumer, Dictionary<TopicPartition, long> open, TopicPartition partition)
    {
        if (open.Remove(partition) && open.Count > 0)
        {
            // Stop fetching what lies beyond the window.
            consumer.IncrementalUnassign([partition]);
        }
    }

    /// <summary>The tracker's acknowledgement: how far each partition's records are applied (progress only; nothing is committed).</summary>
    private void Applied(AcknowledgedPosition position)
    {
        lock (_appliedLock)
        {
            _applied[position.Partition] = position.Position;
        }
    }

    private long AppliedRecords(ReplaySummary summary)
    {
        if (applier is null)
        {
            return summary.Records;
        }

        lock (_appliedLock)
        {
            return _ranges.Sum(r => _applied.TryGetValue(new SourcePartition(r.Partition.Topic, r.Partition.Partition.Value), out var at) ? Math.Max(0, at - r.From) : 0);
        }
    }

    /// <summary>
    /// The worker's topics (<c>Kafka:Topics</c>, or those <c>Kafka:TopicPattern</c> matches now); with <c>--table</c>, only
    /// the topics named after that table (<c>prefix.schema.table</c>) when there are any.
    /// </summary>
    private List<string> Topics(IConsumer<byte[]?, byte[]?> consumer, KafkaOptions kafka)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        Metadata metadata;
        try
        {
            metadata = admin.GetMetadata(RequestTimeout);
        }
        catch (KafkaException ex)
        {
            throw new ReplayException($"cannot read the broker's metadata: {ex.Error.Reason}; check Invalidator:Kafka:BootstrapServers ({kafka.BootstrapServers})");
        }

        var existing = metadata.Topics.Where(t => !t.Error.IsError).Select(t => t.Topic).ToHashSet(StringComparer.Ordinal);
        List<string> topics;
        if (string.IsNullOrWhiteSpace(kafka.TopicPattern))
        {
            topics = kafka.Topics.Where(t => !string.IsNullOrWhiteSpace(t)).Distinct(StringComparer.Ordinal).ToList();
            if (topics.FirstOrDefault(t => !existing.Contains(t)) is { } missing)
            {
                throw new ReplayException($"topic {missing} (Invalidator:Kafka:Topics) does not exist on {kafka.BootstrapServers}");
            }
        }
        else
        {
            var pattern = new Regex(kafka.TopicPattern, RegexOptions.None, TimeSpan.FromSeconds(1));
            topics = existing.Where(t => pattern.IsMatch(t)).Order(StringComparer.Ordinal).ToList();
        }

        if (settings.Table is { } table && topics.Where(t => t == table || t.EndsWith("." + table, StringComparison.Ordinal)).ToList() is { Count: > 0 } named)
        {
            topics = named;
        }

        return topics.Count > 0
            ? topics
            : throw new ReplayException($"no topic matches Invalidator:Kafka:TopicPattern '{kafka.TopicPattern}' on {kafka.BootstrapServers}");
    }

    private static List<PartitionMarks> Watermarks(IConsumer<byte[]?, byte[]?> consumer, List<string> topics)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var marks = new List<PartitionMarks>();
        foreach (var topic in topics)
        {
            var partitions = admin.GetMetadata(topic, RequestTimeout).Topics.Single(t => t.Topic == topic).Partitions;
            foreach (var partition in partitions.OrderBy(p => p.PartitionId))
            {
                var tp = new TopicPartition(topic, new Partition(partition.PartitionId));
                var watermarks = consumer.QueryWatermarkOffsets(tp, RequestTimeout);
                marks.Add(new PartitionMarks(tp, watermarks.Low.Value, watermarks.High.Value));
            }
        }

        return marks;
    }
}
