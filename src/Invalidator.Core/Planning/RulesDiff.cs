using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Planning;

/// <summary>What one record invalidates under one rules file, decoded with that file's hints as the worker would.</summary>
/// <param name="Table">The change's table; null when the record is no change (a heartbeat) or cannot be decoded.</param>
/// <param name="Outcome">The plan's outcome (<c>Invalidate</c>, <c>NoRule</c>, ...), the record's kind when it is no change, or <c>Poison</c>.</param>
/// <param name="Keys">Key names, before any region prefix.</param>
/// <param name="Tags">Tag names.</param>
/// <param name="Poison">Why the record would be dead-lettered; null when it would not.</param>
public sealed record RecordInvalidations(string? Table, string Outcome, IReadOnlySet<string> Keys, IReadOnlySet<string> Tags, string? Poison)
{
    public const string PoisonOutcome = "Poison";
}

/// <summary>How one record's invalidations differ between two rules files.</summary>
public sealed record RecordDifference(RecordInvalidations Old, RecordInvalidations New)
{
    /// <summary>The change's table under either file (the new one first).</summary>
    public string? Table => New.Table ?? Old.Table;

    public IReadOnlyList<string> KeysAppearing { get; } = Sorted(New.Keys.Except(Old.Keys));

    public IReadOnlyList<string> KeysVanishing { get; } = Sorted(Old.Keys.Except(New.Keys));

    public IReadOnlyList<string> TagsAppearing { get; } = Sorted(New.Tags.Except(Old.Tags));

    public IReadOnlyList<string> TagsVanishing { get; } = Sorted(Old.Tags.Except(New.Tags));

    /// <summary>Whether the record would be dead-lettered under one file and not under the other.</summary>
    public bool PoisonChanged => (Old.Poison is null) != (New.Poison is null);

    /// <summary>True when the keys or tags differ, or the record becomes (or stops being) a dead letter.</summary>
    public bool Differs =>
        KeysAppearing.Count > 0 || KeysVanishing.Count > 0 || TagsAppearing.Count > 0 || TagsVanishing.Count > 0 || PoisonChanged;

    private static List<string> Sorted(IEnumerable<string> names) => names.Order(StringComparer.Ordinal).ToList();
}

/// <summary>
/// Compares what two rules files invalidate for the same records: each record is decoded with each file's decoder
/// hints (<c>format</c>, <c>decimals</c>, <c>replicaIdentity</c> change decoding too) and planned with that file.
/// Not thread-safe (it owns its decoder).
/// </summary>
public sealed class RulesDiff
{
    private static readonly IReadOnlySet<string> Empty = new HashSet<string>();

    private readonly InvalidationPlanner _old;
    private readonly InvalidationPlanner _new;
    private readonly DecoderHints _oldHints;
    private readonly DecoderHints _newHints;
    private readonly DebeziumDecoder _decoder = new();

    public RulesDiff(RuleSet oldRules, RuleSet newRules)
    {
        ArgumentNullException.ThrowIfNull(oldRules);
        ArgumentNullException.ThrowIfNull(newRules);
        _old = new InvalidationPlanner(oldRules);
        _new = new InvalidationPlanner(newRules);
        _oldHints = oldRules.DecoderHints;
        _newHints = newRules.DecoderHints;
    }

    public RecordDifference Compare(string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value) =>
        new(Evaluate(_old, _oldHints, topic, key, value), Evaluate(_new, _newHints, topic, key, value));

    /// <summary>What the worker would do with the record under <paramref name="planner"/>'s rules; never throws for bad input.</summary>
    private RecordInvalidations Evaluate(InvalidationPlanner planner, DecoderHints hints, string topic, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value)
    {
        DecodedRecord decoded;
        try
        {
            decoded = _decoder.Decode(topic, key, value, hints);
        }
        catch (ChangeEventFormatException ex)
        {
            return Poison(null, ex.Message);
        }

        if (decoded.Change is not { } change)
        {
            return new RecordInvalidations(null, decoded.Kind.ToString(), Empty, Empty, null);
        }

        try
        {
            var plan = planner.Plan(change);
            return new RecordInvalidations(
                change.Table, plan.Outcome.ToString(), plan.Keys.ToHashSet(StringComparer.Ordinal), plan.Tags.ToHashSet(StringComparer.Ordinal), null);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // As the worker does: a rule that cannot be evaluated dead-letters the record.
            return Poison(change.Table, $"The rules for {change.Table} could not be evaluated: {ex.Message}");
        }
    }

    private static RecordInvalidations Poison(string? table, string reason) =>
        new(table, RecordInvalidations.PoisonOutcome, Empty, Empty, reason);
}

/// <summary>One table's line of a diff's summary.</summary>
/// <param name="Table">The table, or <c>(topic T)</c> for records that are no change of any table under either file.</param>
public sealed record TableDiffSummary(string Table, int Records, int Differing, int KeysAppearing, int KeysVanishing, int TagsAppearing, int TagsVanishing);

/// <summary>Adds up a diff per table.</summary>
public sealed class RulesDiffSummary
{
    private readonly SortedDictionary<string, TableDiffSummary> _tables = new(StringComparer.Ordinal);

    public int Records { get; private set; }

    public int Differing { get; private set; }

    public IReadOnlyCollection<TableDiffSummary> Tables => _tables.Values;

    public void Add(string topic, RecordDifference difference)
    {
        ArgumentNullException.ThrowIfNull(difference);
        var table = difference.Table ?? $"(topic {topic})";
        var row = _tables.TryGetValue(table, out var existing) ? existing : new TableDiffSummary(table, 0, 0, 0, 0, 0, 0);
        var differs = difference.Differs ? 1 : 0;
        _tables[table] = row with
        {
            Records = row.Records + 1,
            Differing = row.Differing + differs,
            KeysAppearing = row.KeysAppearing + difference.KeysAppearing.Count,
            KeysVanishing = row.KeysVanishing + difference.KeysVanishing.Count,
            TagsAppearing = row.TagsAppearing + difference.TagsAppearing.Count,
            TagsVanishing = row.TagsVanishing + difference.TagsVanishing.Count,
        };
        Records++;
        Differing += differs;
    }
}
