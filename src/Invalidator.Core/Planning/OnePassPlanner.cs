using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Planning;

/// <summary>What <see cref="OnePassPlanner.TryPlan"/> made of one record.</summary>
/// <param name="Table">The change's table.</param>
/// <param name="Operation">What happened to the row.</param>
/// <param name="Outcome">The plan's outcome.</param>
/// <param name="CommitTime">When the database committed the change, when known.</param>
/// <param name="Unresolved">Templates that no image rendered; valid until the planner plans its next record.</param>
/// <param name="Shadow">For a shadow plan (invalidating, but never added to the batch): what it would have deleted.</param>
public readonly record struct RecordPlan(
    string Table, ChangeOperation Operation, PlanOutcome Outcome, DateTimeOffset? CommitTime, IReadOnlyList<UnresolvedTemplate> Unresolved, ShadowPlan? Shadow = null);

/// <summary>A shadow plan's names, counted (deduplicated within the plan) and never kept: what the delete would have been.</summary>
/// <param name="Keys">Distinct keys planned.</param>
/// <param name="Tags">Distinct tags planned.</param>
/// <param name="Example">The first key (<c>key …</c>), else the first tag (<c>tag …</c>); null when nothing rendered.</param>
public readonly record struct ShadowPlan(int Keys, int Tags, string? Example);

/// <summary>
/// The worker's per-record step for the common record, in one pass: decodes a Debezium envelope of a table with a rule
/// into reusable rows (only the columns the rule uses), renders its templates into a pooled buffer and adds the names
/// straight to the batch, a string only for a name the batch does not have yet. The keys, tags, lease and second-delete
/// names, outcome and unresolved templates are exactly what
/// <see cref="DebeziumDecoder.Decode(string, ReadOnlySpan{byte}, ReadOnlySpan{byte}, DecoderHints)"/> followed by
/// <see cref="InvalidationPlanner.Plan(ChangeEvent)"/> and <see cref="InvalidationBatch.Add"/> give. A shadow plan
/// (<paramref name="shadowAll"/>, or a rule's <c>shadow: true</c>) is counted into <see cref="RecordPlan.Shadow"/> and never
/// reaches the batch. Any other record (another kind, a table without a rule, bad input) is left to the full path:
/// <see cref="TryPlan"/> says false. The decoder's one read fills the rows (<see cref="DebeziumDecoder.TryDecodeInto"/>),
/// so the full path's <see cref="Decoder"/> reads every record the same way.
/// Owns its reusable rows, and uses its decoder's caches: not thread-safe, one per planning loop (the worker's record
/// planner, a benchmark, a test).
/// </summary>
public sealed class OnePassPlanner
{
    private readonly DecodeScratch _scratch = new();
    private readonly RoutingSink _sink = new();
    private readonly InvalidationPlanner _planner;
    private readonly DecoderHints _hints;

    public OnePassPlanner(RuleSet rules)
        : this(new InvalidationPlanner(rules), rules, new DebeziumDecoder())
    {
    }

    /// <summary>
    /// Plans with <paramref name="planner"/>, which must be built from <paramref name="rules"/>, and reads records with
    /// <paramref name="decoder"/> (whose caches outlive a rules version).
    /// </summary>
    public OnePassPlanner(InvalidationPlanner planner, RuleSet rules, DebeziumDecoder decoder)
    {
        ArgumentNullException.ThrowIfNull(planner);
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentNullException.ThrowIfNull(decoder);
        _planner = planner;
        _hints = rules.DecoderHints;
        Decoder = decoder;
    }

    /// <summary>The decoder the records are read with; the full path decodes the records this planner leaves with it.</summary>
    public DebeziumDecoder Decoder { get; }

    /// <summary>Decodes the record and adds what it invalidates to the batch; false (and the batch untouched) when the full path must do it.</summary>
    public bool TryPlan(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, InvalidationBatch batch, out RecordPlan plan, bool shadowAll = false)
    {
        ArgumentNullException.ThrowIfNull(topic);
        ArgumentNullException.ThrowIfNull(batch);
        var scratch = _scratch;
        if (!Decoder.TryDecodeInto(topic, key, value, _hints, scratch))
        {
            plan = default;
            return false;
        }

        plan = Plan(scratch.Table, scratch.Operation, scratch.Before, scratch.After, scratch.Key, scratch.CommitTime, batch, shadowAll);
        return true;
    }

    /// <summary>
    /// Plans a decoded change straight into the batch: the same names <see cref="InvalidationPlanner.Plan(ChangeEvent)"/>
    /// and <see cref="InvalidationBatch.Add"/> give, without building the plan (a name the batch has costs no string).
    /// </summary>
    public RecordPlan Plan(ChangeEvent change, InvalidationBatch batch, bool shadowAll = false)
    {
        ArgumentNullException.ThrowIfNull(change);
        ArgumentNullException.ThrowIfNull(batch);
        return Plan(change.Table, change.Operation, change.Before, change.After, change.Key, change.CommitTime, batch, shadowAll);
    }

    private RecordPlan Plan(
        string table, ChangeOperation operation, IRowValues? before, IRowValues? after, IRowValues? key, DateTimeOffset? commitTime,
        InvalidationBatch batch, bool shadowAll)
    {
        var sink = _sink;
        sink.Start(batch, shadowAll);
        var outcome = _planner.Plan(table, operation, before, after, key, new RoutingSink.Sink(sink));
        var shadow = sink.Finish(outcome);
        return new RecordPlan(table, operation, outcome, commitTime, sink.Unresolved, shadow);
    }

    /// <summary>
    /// Sends the names on to the batch, or for a shadow rule only counts them, and keeps what did not render for the
    /// caller to report.
    /// </summary>
    private sealed class RoutingSink
    {
        private readonly List<UnresolvedTemplate> _unresolved = [];
        private readonly List<(PlanName Kind, string Name)> _shadowNames = [];
        private InvalidationBatch _batch = null!;
        private InvalidationBatch.BatchSink? _names;
        private bool _shadowAll;
        private bool _shadow;

        public IReadOnlyList<UnresolvedTemplate> Unresolved => _unresolved;

        public void Start(InvalidationBatch batch, bool shadowAll)
        {
            _batch = batch;
            _shadowAll = shadowAll;
            _shadow = false;
            _names = null;
            _unresolved.Clear();
            _shadowNames.Clear();
        }

        public void Begin(TableRule rule)
        {
            _shadow = _shadowAll || rule.Shadow;
            if (!_shadow)
            {
                _names = _batch.BeginPlan();
                _names.Begin(rule);
            }
        }

        public void Add(PlanName kind, ReadOnlySpan<char> name, string? text)
        {
            if (!_shadow)
            {
                _names!.Add(kind, name, text);
                return;
            }

            foreach (var (known, seen) in _shadowNames)
            {
                if (known == kind && name.SequenceEqual(seen))
                {
                    return;
                }
            }

            // Shadow plans are rare and for inspection: their names may cost strings.
            _shadowNames.Add((kind, text ?? name.ToString()));
        }

        /// <summary>Counts the plan into the batch (a shadow plan stays out, as in the full path), or returns the shadow counts.</summary>
        public ShadowPlan? Finish(PlanOutcome outcome)
        {
            if (!_shadow || outcome != PlanOutcome.Invalidate)
            {
                _batch.CountPlan();
                return null;
            }

            var keys = 0;
            string? firstKey = null, firstTag = null;
            foreach (var (kind, name) in _shadowNames)
            {
                if (kind == PlanName.Key)
                {
                    keys++;
                    firstKey ??= name;
                }
                else
                {
                    firstTag ??= name;
                }
            }

            var example = firstKey is not null ? "key " + firstKey : firstTag is not null ? "tag " + firstTag : null;
            return new ShadowPlan(keys, _shadowNames.Count - keys, example);
        }

        public void AddUnresolved(UnresolvedTemplate unresolved) => _unresolved.Add(unresolved);

        /// <summary>The routing as the planner's sink (a struct: the planner's calls to it are direct).</summary>
        public readonly struct Sink(RoutingSink routing) : IPlanSink
        {
            public void Begin(TableRule rule) => routing.Begin(rule);

            public void Add(PlanName kind, ReadOnlySpan<char> name, string? text) => routing.Add(kind, name, text);

            public void Unresolved(UnresolvedTemplate unresolved) => routing.AddUnresolved(unresolved);
        }
    }
}
