using Invalidator.Core.Rules;

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
    private InvalidationNames? _replicaWaits;
    private BatchSink? _sink;

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

    /// <summary>
    /// The keys and tags that rules with <c>waitForReplicas: true</c> planned: deleted once more when the read replicas
    /// replayed the change. Null when no such rule planned a name in this batch.
    /// </summary>
    public InvalidationNames? ReplicaWaits => _replicaWaits is { Count: > 0 } names ? names : null;

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
            SecondDeleteNames(delay).Add(plan.Keys, plan.Tags);
        }

        if (plan.WaitForReplicas && !plan.IsEmpty)
        {
            (_replicaWaits ??= new InvalidationNames()).Add(plan.Keys, plan.Tags);
        }

        NamesBeforeDeduplication += plan.Keys.Count + plan.Tags.Count;
    }

    /// <summary>
    /// Where a plan's names go: straight into the sets, each name a string only when it is new to the batch (a repeated
    /// key costs a lookup, not an allocation). Valid until the next call. The plan is counted by <see cref="CountPlan"/>.
    /// </summary>
    internal BatchSink BeginPlan()
    {
        var sink = _sink ??= new BatchSink(this);
        sink.Reset();
        return sink;
    }

    /// <summary>Counts a plan whose names went through <see cref="BeginPlan"/> (as <see cref="Add"/> counts one).</summary>
    internal void CountPlan() => PlanCount++;

    private InvalidationNames SecondDeleteNames(TimeSpan delay)
    {
        _secondDeletes ??= [];
        if (!_secondDeletes.TryGetValue(delay, out var names))
        {
            _secondDeletes[delay] = names = new InvalidationNames();
        }

        return names;
    }

    public void Clear()
    {
        _keys.Clear();
        _tags.Clear();
        _leaseKeys.Clear();
        _leaseTags.Clear();
        _secondDeletes?.Clear();
        _replicaWaits?.Clear();
        PlanCount = 0;
        NamesBeforeDeduplication = 0;
    }

    /// <summary>Adds a plan's names to the batch as they are rendered, deduplicated per plan for the counts.</summary>
    internal sealed class BatchSink(InvalidationBatch batch)
    {
        private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _keys = batch._keys.GetAlternateLookup<ReadOnlySpan<char>>();
        private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _tags = batch._tags.GetAlternateLookup<ReadOnlySpan<char>>();
        private readonly List<(PlanName Kind, int Start, int Length)> _names = [];
        private char[] _text = new char[512];
        private int _used;
        private bool _leases;
        private TimeSpan? _secondDelay;
        private InvalidationNames? _secondDelete;
        private bool _waitForReplicas;

        public void Reset()
        {
            _names.Clear();
            _used = 0;
            _leases = false;
            _secondDelay = null;
            _secondDelete = null;
            _waitForReplicas = false;
        }

        public void Begin(TableRule rule)
        {
            _leases = rule.Leases;
            _secondDelay = rule.SecondDelete;
            _secondDelete = null; // taken at the first name: a plan that renders nothing has no second delete
            _waitForReplicas = rule.WaitForReplicas;
        }

        public void Add(PlanName kind, ReadOnlySpan<char> name, string? text)
        {
            foreach (var (known, start, length) in _names)
            {
                if (known == kind && name.SequenceEqual(_text.AsSpan(start, length)))
                {
                    return; // this plan has it already
                }
            }

            if (_used + name.Length > _text.Length)
            {
                Array.Resize(ref _text, Math.Max(_text.Length * 2, _used + name.Length));
            }

            name.CopyTo(_text.AsSpan(_used));
            _names.Add((kind, _used, name.Length));
            _used += name.Length;
            batch.NamesBeforeDeduplication++;

            var set = kind == PlanName.Key ? _keys : _tags;
            if (text is not null)
            {
                set.Set.Add(text);
            }
            else
            {
                set.Add(name);
            }

            if (!_leases && _secondDelay is null && !_waitForReplicas)
            {
                return;
            }

            // The batch's own string: a name kept in more than one set costs one string.
            text ??= set.TryGetValue(name, out var stored) ? stored : name.ToString();
            if (_leases)
            {
                // A name planned by a lease table and by another one is deleted with its lease: the safe side.
                (kind == PlanName.Key ? batch._leaseKeys : batch._leaseTags).Add(text);
            }

            if (_secondDelay is { } delay)
            {
                (_secondDelete ??= batch.SecondDeleteNames(delay)).Add(kind, text);
            }

            if (_waitForReplicas)
            {
                (batch._replicaWaits ??= new InvalidationNames()).Add(kind, text);
            }
        }
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

    internal void Add(PlanName kind, string name) => (kind == PlanName.Key ? _keys : _tags).Add(name);

    internal void Clear()
    {
        _keys.Clear();
        _tags.Clear();
    }
}
