using Invalidator.Core.ChangeEvents;

namespace Invalidator.Core.Rules;

/// <summary>The loaded rules file: which keys and tags each table's changes invalidate.</summary>
public sealed class RuleSet
{
    private readonly Dictionary<string, TableRule> _tables;

    public RuleSet(string sourcePath, IEnumerable<TableRule> tables)
    {
        SourcePath = sourcePath;
        _tables = tables.ToDictionary(t => t.Table, StringComparer.Ordinal);
        DecoderHints = new DecoderHints(_tables.Values.Select(t => new TableDecodingHints(t.Table, t.Format, t.ReplicaIdentity, t.Decimals)
        {
            ReplicaIdentityStated = t.ReplicaIdentityStated,
            UsedColumns = [.. t.Keys.Concat(t.Tags).SelectMany(k => k.Columns).Concat(t.Changed ?? []).Distinct(StringComparer.Ordinal)],
        }));
        HasShadowRules = _tables.Values.Any(t => t.Shadow);
        HasReplicaWaitRules = _tables.Values.Any(t => t.WaitForReplicas);
    }

    /// <summary>Some table's rule says <c>waitForReplicas: true</c>.</summary>
    public bool HasReplicaWaitRules { get; }

    /// <summary>Some table's rule says <c>shadow: true</c>.</summary>
    public bool HasShadowRules { get; }

    /// <summary>What the Debezium decoder must know of these tables before it decodes their records.</summary>
    public DecoderHints DecoderHints { get; }

    /// <summary>The file the rules came from (for messages).</summary>
    public string SourcePath { get; }

    public IReadOnlyDictionary<string, TableRule> Tables => _tables;

    public bool TryGetRule(string table, out TableRule rule) => _tables.TryGetValue(table, out rule!);
}

/// <summary>The rule for one table.</summary>
public sealed class TableRule
{
    /// <summary>Operations invalidated when the rule does not say: inserts, updates and deletes (not snapshot reads).</summary>
    public static IReadOnlySet<ChangeOperation> DefaultOps { get; } =
        new HashSet<ChangeOperation> { ChangeOperation.Create, ChangeOperation.Update, ChangeOperation.Delete };

    /// <summary><c>schema.table</c>, as written in the rules file.</summary>
    public required string Table { get; init; }

    public IReadOnlyList<KeyTemplate> Keys { get; init; } = [];

    public IReadOnlyList<KeyTemplate> Tags { get; init; } = [];

    /// <summary><see cref="Keys"/> as an array: the planner walks it per change without an enumerator or interface calls.</summary>
    internal KeyTemplate[] KeyTemplates => _keyTemplates ??= [.. Keys];

    /// <summary><see cref="Tags"/> as an array (see <see cref="KeyTemplates"/>).</summary>
    internal KeyTemplate[] TagTemplates => _tagTemplates ??= [.. Tags];

    /// <summary>Whether the rule invalidates on <paramref name="operation"/> (<see cref="Ops"/>), without a set lookup per change.</summary>
    internal bool Invalidates(ChangeOperation operation)
    {
        var ops = _opsMask;
        if (ops == 0)
        {
            _opsMask = ops = OpsMask(Ops);
        }

        var bit = (int)operation;
        return bit is >= 0 and < Computed ? (ops & (1UL << bit)) != 0 : Ops.Contains(operation);
    }

    // The mask's top bit says it is computed (one word: no torn read between threads).
    private const int Computed = 63;

    private static ulong OpsMask(IReadOnlySet<ChangeOperation> ops)
    {
        var mask = 1UL << Computed;
        foreach (var op in ops)
        {
            if ((int)op is >= 0 and < Computed)
            {
                mask |= 1UL << (int)op;
            }
        }

        return mask;
    }

    public IReadOnlySet<ChangeOperation> Ops { get; init; } = DefaultOps;

    /// <summary>When set, an update invalidates only if one of these columns changed.</summary>
    public IReadOnlyList<string>? Changed { get; init; }

    /// <summary>Static keys invalidated on a truncate.</summary>
    public IReadOnlyList<string> TruncateKeys { get; init; } = [];

    /// <summary>Static tags invalidated on a truncate.</summary>
    public IReadOnlyList<string> TruncateTags { get; init; } = [];

    /// <summary>Columns that hold decimals (<c>decimals</c>), for records that arrive without a schema.</summary>
    public IReadOnlyList<string> Decimals { get; init; } = [];

    /// <summary>The table's replica identity as declared (<c>replicaIdentity</c>; default <c>full</c>).</summary>
    public ReplicaIdentity ReplicaIdentity { get; init; } = ReplicaIdentity.Full;

    /// <summary>
    /// The rule has a <c>replicaIdentity</c> field. Without one, deletes shaped like REPLICA IDENTITY DEFAULT's (a before
    /// image of the key's columns and type defaults) are reported as suspect: the operator has not said which it is.
    /// </summary>
    public bool ReplicaIdentityStated { get; init; }

    /// <summary>How the table's topic is written (<c>format</c>; default <c>auto</c>).</summary>
    public RecordFormat Format { get; init; } = RecordFormat.Auto;

    /// <summary>
    /// <c>leases: true</c>: every key (and tag member) this table invalidates is deleted together with its lease key
    /// <c>L(K)</c>, so a reader's guarded populate that raced with the change is refused (the lease protocol).
    /// </summary>
    public bool Leases { get; init; }

    /// <summary>
    /// <c>secondDelete: 800ms</c>: delete what this table invalidates once more after this delay, so a value a slow
    /// reader populated from the old row inside the window goes too. Null when the rule does not say (the worker's
    /// <c>Invalidator:Consistency:SecondDeleteDelay</c> applies); zero turns it off for this table.
    /// </summary>
    public TimeSpan? SecondDelete { get; init; }

    /// <summary>The longest <c>secondDelete</c>: the position waits for it, so a crash re-reads that much.</summary>
    public static TimeSpan MaxSecondDelete { get; } = TimeSpan.FromMinutes(10);

    /// <summary>
    /// <c>shadow: true</c>: this table's invalidations are planned and counted but never deleted, so a new rule can run
    /// beside the live ones against production traffic before it is trusted.
    /// </summary>
    public bool Shadow { get; init; }

    /// <summary>
    /// <c>waitForReplicas: true</c>: delete what this table invalidates once more when every read replica
    /// (<c>Invalidator:Consistency:ReadReplicas</c>) has replayed the change, so a reader of a lagging replica cannot
    /// store the old row for good (<c>Invalidator:Consistency:WaitForReplicas</c> does it for every table).
    /// </summary>
    public bool WaitForReplicas { get; init; }

    /// <summary>Line of the table's entry in the rules file (1-based), for messages; 0 for a built-in rule.</summary>
    public int Line { get; init; }

    /// <summary>
    /// The rule is the worker's own, not the file's (the canary table's, <see cref="CanaryRule"/>): users write none, and
    /// the checks that ask users to fix their tables leave it to the probe's own start-up check.
    /// </summary>
    public bool BuiltIn { get; init; }

    // Filled on first use (init-only sources, so a race computes the same value twice at worst).
    private KeyTemplate[]? _keyTemplates;
    private KeyTemplate[]? _tagTemplates;
    private ulong _opsMask;
}
