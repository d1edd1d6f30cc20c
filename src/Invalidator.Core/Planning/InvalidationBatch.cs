namespace Invalidator.Core.Planning;

/// <summary>
/// Keys and tags of many changes, deduplicated: a row updated ten times in a batch is deleted once.
/// Per-key order does not matter for deletes, which is what makes batching safe.
/// </summary>
public sealed class InvalidationBatch
{
    private readonly HashSet<string> _keys = new(StringComparer.Ordinal);
    private readonly HashSet<string> _tags = new(StringComparer.Ordinal);

    public IReadOnlyCollection<string> Keys => _keys;

    public IReadOnlyCollection<string> Tags => _tags;

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

        NamesBeforeDeduplication += plan.Keys.Count + plan.Tags.Count;
    }

    public void Clear()
    {
        _keys.Clear();
        _tags.Clear();
        PlanCount = 0;
        NamesBeforeDeduplication = 0;
    }
}
