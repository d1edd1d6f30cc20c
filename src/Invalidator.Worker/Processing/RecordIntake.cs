using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Processing;

/// <summary>
/// Decodes one source record and adds what it invalidates to the batch. Never throws for bad input:
/// an undecodable record comes back as <see cref="RecordOutcome.Poison"/> with the reason, for the dead-letter topic.
/// A shadow plan (<c>Invalidator:Mode = Shadow</c>, or a rule's <c>shadow: true</c>) is counted and logged but not
/// added to the batch, so nothing downstream can delete it. Records are planned with the rules version taken by
/// <see cref="UseLatestRules"/>, which the sources call before a batch's first record. Owns the decoder (its schema and
/// name caches outlive a rules version) and the one-pass planner's reusable rows: not thread-safe, one per source loop.
/// </summary>
internal sealed class RecordIntake
{
    private static readonly TimeSpan UnresolvedLogInterval = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan SuspectIdentityLogInterval = TimeSpan.FromMinutes(1);

    private readonly LiveRules _live;
    private readonly bool _shadowAll;
    private readonly WorkerEvents _events;
    private readonly ILogger<RecordIntake> _logger;
    private readonly RateLimitedLog _unresolvedLog;
    private readonly RateLimitedLog _shadowLog;
    private readonly RateLimitedLog _suspectIdentityLog;
    private readonly KeyRedaction _redaction;
    private readonly DebeziumDecoder _decoder = new();
    private readonly RecordTally _tally;
    private LoadedRules _rules;
    private OnePassPlanner _records;

    internal RecordIntake(RuleSet rules, WorkerEvents events, ILogger<RecordIntake> logger, TimeProvider time)
        : this(LiveRules.Fixed(rules), WorkerMode.Live, events, logger, time)
    {
    }

    internal RecordIntake(LiveRules rules, WorkerMode mode, WorkerEvents events, ILogger<RecordIntake> logger, TimeProvider time, KeyRedaction? redaction = null)
    {
        _redaction = redaction ?? KeyRedaction.Redacting;
        _live = rules;
        _rules = rules.Current;
        _records = new OnePassPlanner(_rules.Planner, _rules.Rules, _decoder);
        _shadowAll = mode == WorkerMode.Shadow;
        _events = events;
        _tally = new RecordTally(events);
        _logger = logger;
        _unresolvedLog = new RateLimitedLog(UnresolvedLogInterval, time);
        _shadowLog = new RateLimitedLog(UnresolvedLogInterval, time);
        _suspectIdentityLog = new RateLimitedLog(SuspectIdentityLogInterval, time);
    }

    /// <summary>The rules version records are planned with now.</summary>
    public LoadedRules Rules => _rules;

    /// <summary>
    /// Takes the live rules version (a reload may have swapped it) for the batch the source is starting. Call it
    /// before the batch's first record only: a batch is planned with one version, its decoder hints and planner together.
    /// </summary>
    public LoadedRules UseLatestRules()
    {
        var latest = _live.Current;
        if (!ReferenceEquals(latest, _rules))
        {
            _rules = latest;
            _records = new OnePassPlanner(latest.Planner, latest.Rules, _decoder);
        }

        return latest;
    }

    /// <summary>Decodes a Debezium record (Kafka) and adds what it invalidates to the batch.</summary>
    public PlannedRecord Add(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, InvalidationBatch batch, int maxValueBytes = int.MaxValue)
    {
        try
        {
            return AddRecord(topic, key, value, batch, maxValueBytes);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Whatever decoding or planning throws makes the record poison with the reason: never a crash, never a record
            // skipped without a letter. Names it added to the batch before it threw stay (a repeated delete is harmless).
            return Poison(topic, UnexpectedReason(ex));
        }
    }

    /// <summary>
    /// Counts a record the source could not even hand to <see cref="Add(string, ReadOnlySpan{byte}, ReadOnlySpan{byte}, InvalidationBatch, int)"/>
    /// (a deserializer that threw, a replication message the decoder could not read) as poison, with its reason.
    /// </summary>
    public PlannedRecord Poison(string source, string reason) => new(Count(source, "unknown", RecordOutcome.Poison), reason, null);

    /// <summary>The poison reason for an exception nothing expected: its type says as much as its message.</summary>
    public static string UnexpectedReason(Exception exception)
    {
        ArgumentNullException.ThrowIfNull(exception);
        return $"The record could not be decoded or planned ({exception.GetType().Name}: {exception.Message.ReplaceLineEndings(" ")}).";
    }

    private PlannedRecord AddRecord(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, InvalidationBatch batch, int maxValueBytes)
    {
        if (value.Length > maxValueBytes)
        {
            return new PlannedRecord(
                Count(topic, "unknown", RecordOutcome.Poison),
                $"The record value is {value.Length} bytes, over Invalidator:DeadLetter:MaxRecordBytes ({maxValueBytes}); it was not decoded.",
                null);
        }

        // The common record in one pass, straight into the batch; anything else (and bad input) takes the full path.
        if (_records.TryPlan(topic, key, value, batch, out var fast, _shadowAll))
        {
            return Planned(topic, fast.Operation.ToCode(), fast, tombstone: false);
        }

        DecodedRecord decoded;
        try
        {
            decoded = _decoder.Decode(topic, key, value, _rules.Rules.DecoderHints);
        }
        catch (ChangeEventFormatException ex)
        {
            return new PlannedRecord(Count(topic, "unknown", RecordOutcome.Poison), ex.Message, null);
        }

        if (decoded.Change is { SuspectDefaultIdentity: true } suspect)
        {
            ReportSuspectDefaultIdentity(suspect.Table);
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

    /// <summary>Adds what a decoded change invalidates to the batch; <paramref name="source"/> labels the metrics. Never throws for bad input.</summary>
    public PlannedRecord Add(string source, ChangeEvent change, InvalidationBatch batch)
    {
        ArgumentNullException.ThrowIfNull(change);
        try
        {
            return Add(source, change, batch, tombstone: false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return Poison(source, UnexpectedReason(ex));
        }
    }

    /// <summary>Counts a change the source could not take whole (over a size bound) as poison, with the source's reason; plans nothing.</summary>
    public PlannedRecord Poison(string source, ChangeEvent change, string reason) =>
        new(Count(source, change.Operation.ToCode(), RecordOutcome.Poison), reason, change.CommitTime);

    private PlannedRecord Add(string source, ChangeEvent change, InvalidationBatch batch, bool tombstone)
    {
        var op = tombstone ? "none" : change.Operation.ToCode();
        RecordPlan plan;
        try
        {
            plan = _records.Plan(change, batch, _shadowAll);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A rule that cannot be evaluated for this change must not stop the stream or be skipped silently.
            return new PlannedRecord(
                Count(source, op, RecordOutcome.Poison),
                $"The rules for {change.Table} could not be evaluated: {ex.Message}",
                change.CommitTime);
        }

        return Planned(source, op, plan, tombstone);
    }

    private PlannedRecord Planned(string source, string op, in RecordPlan plan, bool tombstone)
    {
        // By index: a foreach over the interface would allocate an enumerator for every record, unresolved or not.
        var unresolvedTemplates = plan.Unresolved;
        for (var i = 0; i < unresolvedTemplates.Count; i++)
        {
            ReportUnresolved(unresolvedTemplates[i]);
        }

        if (plan.Shadow is { } shadow)
        {
            // Counted, never added to the batch: the delete path does not know shadow plans exist.
            ReportShadow(plan.Table, op, shadow);
            return new PlannedRecord(Count(source, op, RecordOutcome.Shadow), null, plan.CommitTime);
        }

        var outcome = tombstone ? RecordOutcome.Tombstone : plan.Outcome switch
        {
            PlanOutcome.Invalidate => RecordOutcome.Invalidated,
            PlanOutcome.NoRule => RecordOutcome.NoRule,
            PlanOutcome.Unchanged => RecordOutcome.Unchanged,
            _ => RecordOutcome.Ignored,
        };
        return new PlannedRecord(Count(source, op, outcome), null, plan.CommitTime);
    }

    /// <summary>Publishes the records counted since the last time (<c>invalidator_records</c>): when a batch is cut or discarded, and after a reapply.</summary>
    public void PublishCounts() => _tally.Publish();

    private RecordOutcome Count(string topic, string op, RecordOutcome outcome)
    {
        _tally.Add(topic, op, outcome.ToLabel());
        return outcome;
    }

    private void ReportShadow(string table, string op, ShadowPlan plan)
    {
        // An example is a key with row values in it: redacted (Invalidator:Diagnostics:ShowKeys) before it is kept or logged.
        var example = _redaction.Example(plan.Example, _rules.Rules.TryGetRule(table, out var rule) ? rule : null);
        _events.Publish(new ShadowPlanned(table, plan.Keys, plan.Tags, example));
        if (_shadowLog.ShouldLog(table, out var suppressed))
        {
            Log.ShadowPlanned(_logger, table, op, plan.Keys, plan.Tags, example ?? "nothing rendered", suppressed);
        }
    }

    /// <summary>
    /// A delete shaped like REPLICA IDENTITY DEFAULT's, of a table whose rule does not state its identity: planned as
    /// it is (the rule decides), but counted, shown on the status page and logged with the fix.
    /// </summary>
    private void ReportSuspectDefaultIdentity(string table)
    {
        _events.Publish(new SuspectDefaultIdentitySeen(table));
        if (_suspectIdentityLog.ShouldLog(table, out var suppressed))
        {
            Log.SuspectDefaultIdentity(_logger, table, suppressed);
        }
    }

    private void ReportUnresolved(UnresolvedTemplate unresolved)
    {
        _events.Publish(new TemplateUnresolved(unresolved.Table, unresolved.Template));
        if (_unresolvedLog.ShouldLog((unresolved.Table, unresolved.Template, unresolved.Image, unresolved.Failure), out var suppressed))
        {
            Log.TemplateUnresolved(_logger, unresolved.Template, unresolved.Table, unresolved.Image, unresolved.Failure.ToString(), unresolved.Column, unresolved.Reason, suppressed);
        }
    }
}
