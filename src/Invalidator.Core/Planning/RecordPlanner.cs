using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Planning;

/// <summary>What <see cref="RecordPlanner.TryPlan"/> made of one record.</summary>
/// <param name="Table">The change's table.</param>
/// <param name="Operation">What happened to the row.</param>
/// <param name="Outcome">The plan's outcome.</param>
/// <param name="CommitTime">When the database committed the change, when known.</param>
/// <param name="Unresolved">Templates that no image rendered; valid until the thread plans its next record.</param>
public readonly record struct RecordPlan(string Table, ChangeOperation Operation, PlanOutcome Outcome, DateTimeOffset? CommitTime, IReadOnlyList<UnresolvedTemplate> Unresolved);

/// <summary>
/// The worker's per-record step for the common record, in one pass: decodes a Debezium envelope of a table with a rule
/// into reusable rows (only the columns the rule uses), renders its templates into a pooled buffer and adds the names
/// straight to the batch, a string only for a name the batch does not have yet. The keys, tags, outcome and
/// unresolved templates are exactly what <see cref="DebeziumDecoder.Decode(string, ReadOnlySpan{byte}, ReadOnlySpan{byte}, DecoderHints)"/>
/// followed by <see cref="InvalidationPlanner.Plan(ChangeEvent)"/> and <see cref="InvalidationBatch.Add"/> give.
/// Any other record (another kind, a table without a rule, bad input) is left to those: <see cref="TryPlan"/> says false.
/// Thread-safe (the reusable parts are per thread).
/// </summary>
public sealed class RecordPlanner
{
    [ThreadStatic]
    private static DecodeScratch? t_scratch;

    [ThreadStatic]
    private static UnresolvedSink? t_sink;

    private readonly InvalidationPlanner _planner;
    private readonly DecoderHints _hints;

    public RecordPlanner(RuleSet rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        _planner = new InvalidationPlanner(rules);
        _hints = rules.DecoderHints;
    }

    /// <summary>Decodes the record and adds what it invalidates to the batch; false (and the batch untouched) when the full path must do it.</summary>
    public bool TryPlan(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, InvalidationBatch batch, out RecordPlan plan)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(batch);
        var scratch = t_scratch ??= new DecodeScratch();
        if (!DebeziumDecoder.TryDecodeInto(topic, key, value, _hints, scratch))
        {
            plan = default;
            return false;
        }

        var sink = t_sink ??= new UnresolvedSink();
        sink.Start(batch.BeginPlan());
        var outcome = _planner.Plan(scratch.Table, scratch.Operation, scratch.Before, scratch.After, scratch.Key, sink);
        plan = new RecordPlan(scratch.Table, scratch.Operation, outcome, scratch.CommitTime, sink.Unresolved);
        return true;
    }

    /// <summary>
    /// Plans a decoded change straight into the batch: the same names <see cref="InvalidationPlanner.Plan(ChangeEvent)"/>
    /// and <see cref="InvalidationBatch.Add"/> give, without building the plan (a name the batch has costs no string).
    /// </summary>
    public RecordPlan Plan(ChangeEvent change, InvalidationBatch batch)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(batch);
        var sink = t_sink ??= new UnresolvedSink();
        sink.Start(batch.BeginPlan());
        var outcome = _planner.Plan(change.Table, change.Operation, change.Before, change.After, change.Key, sink);
        return new RecordPlan(change.Table, change.Operation, outcome, change.CommitTime, sink.Unresolved);
    }

    /// <summary>Sends the names on to the batch and keeps what did not render, for the caller to report.</summary>
    private sealed class UnresolvedSink : IPlanSink
    {
        private readonly List<UnresolvedTemplate> _unresolved = [];
        private IPlanSink _batch = null!;

        public IReadOnlyList<UnresolvedTemplate> Unresolved => _unresolved;

        public void Start(IPlanSink batch)
        {
            _batch = batch;
            _unresolved.Clear();
        }

        public void Begin(bool leases) => _batch.Begin(leases);

        public void Add(PlanName kind, ReadOnlySpan<char> name, string? text) => _batch.Add(kind, name, text);

        void IPlanSink.Unresolved(UnresolvedTemplate unresolved) => _unresolved.Add(unresolved);
    }
}
