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
/// joined and the worker's is never touched), and has a <see cref="SourceRunner"/> plan every record with the current
/// rules and apply the batches through the worker's own <see cref="BatchPipeline"/>: the regions' retries and circuit
/// breakers, and region letters for a region that cannot take its share (the running worker's redrive re-applies
/// them). Its acknowledgement commits nothing: it only measures progress. Undecodable records are only counted: the
/// worker dead-lettered them when it first read them.
/// </summary>
internal sealed class KafkaReplay(KafkaReplaySettings settings, RecordIntake planner, BatchApplier? applier, TextWriter log, TimeProvider time)
    : IChangeSource, IDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StallTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Poll = TimeSpan.FromMilliseconds(100);

    private readonly Dictionary<SourcePartition, long> _applied = [];
    private readonly SourceRunner _runner = new(
        "replay", planner, applier, settings.Options.Batching, settings.Options.DeadLetter.MaxRecordBytes, time, readWait: Poll);

    private List<(TopicPartition Partition, long From, long To)> _ranges = [];
    private Dictionary<TopicPartition, long> _ends = [];
    private IConsumer<byte[]?, byte[]?>? _consumer;
    private ReplaySummary? _summary;
    private ReplayProgress? _progress;
    private long _total;
    private long _lastRecordAt;

    public async Task<ReplaySummary> RunAsync(ReplayProgress progress, CancellationToken cancellationToken)
    {
        var kafka = settings.Options.Kafka;
        using var consumer = AssignedConsumer.Build(kafka, "invalidator-replay-", partitionEof: true, log);

        var topics = ReplayTopics.Find(consumer, kafka, settings.Table, RequestTimeout);
        var marks = ReplayTopics.Watermarks(consumer, topics, RequestTimeout);
        var offsets = new TimestampOffsets(consumer, log, RequestTimeout, time);
        var starts = offsets.Find(marks, settings.Window.Since);
        var ends = settings.Window.Until is { } until ? offsets.Find(marks, until) : marks.ToDictionary(m => m.Partition, m => m.High);
        var ranges = marks
            .Select(m => (m.Partition, From: Math.Max(starts[m.Partition], m.Low), To: ends[m.Partition]))
            .Where(r => r.To > r.From)
            .ToList();
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

        (_consumer, _summary, _progress, _ranges) = (consumer, summary, progress, ranges);
        _ends = ranges.ToDictionary(r => r.Partition, r => r.To);
        _total = ranges.Sum(r => r.To - r.From);
        _lastRecordAt = time.GetTimestamp();
        try
        {
            if (ranges.Count > 0)
            {
                consumer.Assign(ranges.Select(r => new TopicPartitionOffset(r.Partition, new Offset(r.From))));
            }

            // Reads every range to its end, then waits until every batch handed to the pipeline is applied (or its region letters written).
            await _runner.RunAsync(this, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            await _runner.StopAsync("replay ended").ConfigureAwait(false);
            consumer.Close(); // leaves nothing behind: no group was joined, nothing was committed
        }

        summary.Keys = _runner.SubmittedKeys;
        summary.Tags = _runner.SubmittedTags;
        summary.Batches = _runner.SubmittedBatches;
        progress.Report(summary.Records, _total, summary.Records, summary.Keys, final: true);
        summary.Seconds = progress.Elapsed.TotalSeconds;
        return summary;
    }

    /// <summary>The next record of the window, planned into the runner's open batch; the end once every range is read.</summary>
    public ValueTask<SourceRead> ReadAsync(TimeSpan wait, Task wake, CancellationToken cancellationToken)
    {
        var summary = _summary!;
        while (true)
        {
            _progress!.Report(summary.Records, _total, AppliedRecords(), _runner.SubmittedKeys + _runner.Open.Batch.Invalidations.Keys.Count);
            if (_ends.Count == 0)
            {
                return ValueTask.FromResult(SourceRead.End);
            }

            var record = _consumer!.Consume(wait);
            if (record is null)
            {
                if (time.GetElapsedTime(_lastRecordAt) > StallTimeout)
                {
                    throw new ReplayException($"reading stopped: no record for {StallTimeout.TotalSeconds:0} s before the end of {string.Join(", ", _ends.Keys.Select(TimestampOffsets.Name))}");
                }

                return ValueTask.FromResult(SourceRead.Nothing);
            }

            _lastRecordAt = time.GetTimestamp();
            wait = TimeSpan.Zero; // what is skipped costs no waiting
            if (!_ends.TryGetValue(record.TopicPartition, out var end))
            {
                continue; // a partition already read to its end
            }

            if (record.IsPartitionEOF || record.Offset.Value >= end)
            {
                Finish(record.TopicPartition);
                continue;
            }

            var message = record.Message;
            var planned = _runner.Open.Plan(record.Topic, message.Key, message.Value);
            summary.Counted(planned.Outcome);
            if (record.Offset.Value >= end - 1)
            {
                Finish(record.TopicPartition);
            }

            var offset = record.Offset.Value;
            return ValueTask.FromResult(SourceRead.Record(new SourcePartition(record.Topic, record.Partition.Value), offset, offset + 1, planned.CommitTime, poison: null));
        }
    }

    public void Dispose() => _runner.Dispose();

    /// <summary>How far each partition's records are applied: progress only, nothing is committed.</summary>
    public void Acknowledge(AcknowledgedPosition position) => _applied[position.Partition] = position.Position;

    private void Finish(TopicPartition partition)
    {
        if (_ends.Remove(partition) && _ends.Count > 0)
        {
            // Stop fetching what lies beyond the window.
            _consumer!.IncrementalUnassign([partition]);
        }
    }

    private long AppliedRecords() =>
        applier is null
            ? _summary!.Records
            : _ranges.Sum(r => _applied.TryGetValue(new SourcePartition(r.Partition.Topic, r.Partition.Partition.Value), out var at) ? Math.Max(0, at - r.From) : 0);
}
