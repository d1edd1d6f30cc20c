namespace Invalidator.Core.Planning;

/// <summary>
/// Keys and tags of many changes, deduplicated: a row updated ten times in a batch is deleted once.
/// Per-key order does not matter for deletes, which is what makes batching safe.
/// </summary>
public sealed class InvalidationBatch
{
    private static readonly Dictionary<TimeSpan, InvalidationNames> NoSecondDeletes = [];

    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _tags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _leaseKeys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _leaseTags = new(StringComparer.Ordinal);
    private Dictionary<TimeSpan, InvalidationNames>? _secondDeletes;

    public IReadOnlyCollection<string> Keys => _keys;

    public IReadOnlyCollection<string> Tags => _tags;

    /// <summary>The keys of <see cref="Keys"/> that a rule with <c>leases: true</c> planned: deleted with their lease keys.</summary>
    public IReadOnlySet<string> LeaseKeys => _leaseKeys;

    /// <summary>The tags of <see cref="Tags"/> that a rule with <c>leases: true</c> planned: their members lose their lease keys too.</summary>
    public IReadOnlySet<string> LeaseTags => _leaseTags;

    /// <summary>
    /// The keys and tags that rules with their own <c>secondDelete</c> planned, by that delay (zero: the rule turned the
    /// second delete off). Names of rules that do not say are only in <see cref="Keys"/> and <see cref="Tags"/>.
    /// </summary>
    public IReadOnlyDictionary<TimeSpan, InvalidationNames> SecondDeletes =>
        (IReadOnlyDictionary<TimeSpan, InvalidationNames>?)_secondDeletes ?? NoSecondDeletes;

    /// <summary>Plans added, including ones that invalidate nothing.</summary>
    public int PlanCount { get; private set; }

    /// <summary>Keys and tags added before deduplication.</summary>
    public int NamesBeforeDeduplication { get; private set; }

    public bool IsEmpty => _keys.Count == 0 && _tags.Count == 0;

    public void Add(InvalidationPlan plan)
    {
        ArgumentNullException.ThrowIfNull(plan);
        PlanCount++;
        foreach (var key in plan.Keys)
        {
            _keys.Add(key);
        }

        foreach (var tag in plan.Tags)
        {
            _tags.Add(tag);
        }

        // A name planned by a lease table and by another one is deleted with its lease: the safe side.
        if (plan.Leases)
        {
            _leaseKeys.UnionWith(plan.Keys);
            _leaseTags.UnionWith(plan.Tags);
        }

        if (plan.SecondDelete is { } delay && !plan.IsEmpty)
        {
            _secondDeletes ??= [];
            if (!_secondDeletes.TryGetValue(delay, out var names))
            {
                _secondDeletes[delay] = names = new InvalidationNames();
            }

            names.Add(plan.Keys, plan.Tags);
        }

        NamesBeforeDeduplication += plan.Keys.Count + plan.Tags.Count;
    }

    public void Clear()
    {
        _keys.Clear();
        _tags.Clear();
        _leaseKeys.Clear();
        _leaseTags.Clear();
        _secondDeletes?.Clear();
        PlanCount = 0;
        NamesBeforeDeduplication = 0;
    }
}

/// <summary>A set of key names and tag names (deduplicated).</summary>
public sealed class InvalidationNames
{
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _tags = new(StringComparer.Ordinal);

    public IReadOnlySet<string> Keys => _keys;

    public IReadOnlySet<string> Tags => _tags;

    public int Count => _keys.Count + _tags.Count;

    public void Add(IEnumerable<string> keys, IEnumerable<string> tags)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(tags);
        _keys.UnionWith(keys);
        _tags.UnionWith(tags);
    }
}
