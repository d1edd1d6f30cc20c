namespace Invalidator.Core.Planning;

/// <summary>
/// Keys and tags of many changes, deduplicated: a row updated ten times in a batch is deleted once.
/// Per-key order does not matter for deletes, which is what makes batching safe.
/// </summary>
public sealed class InvalidationBatch
{
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _tags = new(StringComparer.Ordinal);
    private readonly HashSet<string> _leaseKeys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _leaseTags = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> Keys => _keys;

    public IReadOnlyCollection<string> Tags => _tags;

    /// <summary>The keys of <see cref="Keys"/> that a rule with <c>leases: true</c> planned: deleted with their lease keys.</summary>
    public IReadOnlySet<string> LeaseKeys => _leaseKeys;

    /// <summary>The tags of <see cref="Tags"/> that a rule with <c>leases: true</c> planned: their members lose their lease keys too.</summary>
    public IReadOnlySet<string> LeaseTags => _leaseTags;

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

        NamesBeforeDeduplication += plan.Keys.Count + plan.Tags.Count;
    }

    public void Clear()
    {
        _keys.Clear();
        _tags.Clear();
        _leaseKeys.Clear();
        _leaseTags.Clear();
        PlanCount = 0;
        NamesBeforeDeduplication = 0;
    }
}
