using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Processing;

/// <summary>
/// Decodes one source record and adds what it invalidates to the batch. Never throws for bad input:
/// an undecodable record comes back as <see cref="RecordOutcome.Poison"/> with the reason, for the dead-letter topic.
/// </summary>
public sealed class ChangeRecordPlanner
{
    private static readonly TimeSpan UnresolvedLogInterval = TimeSpan.FromSeconds(10);

    private readonly InvalidationPlanner _planner;
    private readonly DecoderHints _hints;
    private readonly InvalidatorMetrics _metrics;
    private readonly ILogger<ChangeRecordPlanner> _logger;
    private readonly RateLimitedLog _unresolvedLog;

    internal ChangeRecordPlanner(RuleSet rules, InvalidatorMetrics metrics, ILogger<ChangeRecordPlanner> logger, TimeProvider time)
    {
        _planner = new InvalidationPlanner(rules);
        _hints = rules.DecoderHints;
        _metrics = metrics;
        _logger = logger;
        _unresolvedLog = new RateLimitedLog(UnresolvedLogInterval, time);
    }

    /// <summary>Decodes a Debezium record (Kafka) and adds what it invalidates to the batch.</summary>
    public PlannedRecord Add(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, InvalidationBatch batch, int maxValueBytes = int.MaxValue)
    {
        if (value.Length > maxValueBytes)
        {
            return new PlannedRecord(
                Count(topic, "unknown", RecordOutcome.Poison),
                $"The record value is {value.Length} bytes, over Invalidator:DeadLetter:MaxRecordBytes ({maxValueBytes}); it was not decoded.",
                null);
        }

        DecodedRecord decoded;
        try
        {
            decoded = DebeziumDecoder.Decode(topic, key, value, _hints);
        }
        catch (ChangeEventFormatException ex)
        {
            return new PlannedRecord(Count(topic, "unknown", RecordOutcome.Poison), ex.Message, null);
        }

        return decoded.Kind switch
        {
            // The key is the only signal that the row is gone (the unwrap SMT's default delete handling).
            RecordKind.Tombstone => Add(topic, decoded.Change!, batch, tombstone: true),
            RecordKind.Heartbeat => new PlannedRecord(Count(topic, "none", RecordOutcome.Heartbeat), null, null),
            RecordKind.TransactionMetadata => new PlannedRecord(Count(topic, "none", RecordOutcome.Transaction), null, null),
            RecordKind.SchemaChange => new PlannedRecord(Count(topic, "none", RecordOutcome.SchemaChange), null, null),
            _ => Add(topic, decoded.Change!, batch, tombstone: false),
        };
    }

    /// <summary>Adds what a decoded change invalidates to the batch; <paramref name="source"/> labels the metrics.</summary>
    public PlannedRecord Add(string source, ChangeEvent change, InvalidationBatch batch) => Add(source, change, batch, tombstone: false);

    private PlannedRecord Add(string source, ChangeEvent change, InvalidationBatch batch, bool tombstone)
    {
        var op = tombstone ? "none" : change.Operation.ToCode();
        InvalidationPlan plan;
        try
        {
            plan = _planner.Plan(change);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A rule that cannot be evaluated for this change must not stop the stream or be skipped silently.
            return new PlannedRecord(
                Count(source, op, RecordOutcome.Poison),
                $"The rules for {change.Table} could not be evaluated: {ex.Message}",
                change.CommitTime);
        }

        foreach (var unresolved in plan.Unresolved)
        {
            ReportUnresolved(unresolved);
        }

        batch.Add(plan);
        var outcome = tombstone ? RecordOutcome.Tombstone : plan.Outcome switch
        {
            PlanOutcome.Invalidate => RecordOutcome.Invalidated,
            PlanOutcome.NoRule => RecordOutcome.NoRule,
            PlanOutcome.Unchanged => RecordOutcome.Unchanged,
            _ => RecordOutcome.Ignored,
        };
        return new PlannedRecord(Count(source, op, outcome), null, change.CommitTime);
    }

    private RecordOutcome Count(string topic, string op, RecordOutcome outcome)
    {
        _metrics.Records.Add(
            1,
            new KeyValuePair<string, object?>("topic", topic),
            new KeyValuePair<string, object?>("op", op),
            new KeyValuePair<string, object?>("outcome", outcome.ToLabel()));
        return outcome;
    }

    private void ReportUnresolved(UnresolvedTemplate unresolved)
    {
        _metrics.UnresolvedTemplates.Add(
            1,
            new KeyValuePair<string, object?>("table", unresolved.Table),
            new KeyValuePair<string, object?>("template", unresolved.Template));
        if (_unresolvedLog.ShouldLog((unresolved.Table, unresolved.Template, unresolved.Image, unresolved.Failure), out var suppressed))
        {
            Log.TemplateUnresolved(_logger, unresolved.Template, unresolved.Table, unresolved.Image, unresolved.Failure.ToString(), unresolved.Column, unresolved.Reason, suppressed);
        }
    }
}
