namespace Invalidator.Core.Coverage;

/// <summary>One cached key, with its time to live (null: the key never expires).</summary>
public readonly record struct KeyExample(string Key, TimeSpan? Ttl);

/// <summary>The keys of one shape that nothing can invalidate.</summary>
/// <param name="Shape">The folded key (<see cref="KeyShape"/>).</param>
/// <param name="Count">How many keys have it.</param>
/// <param name="WithoutTtl">How many of them never expire: nothing will ever remove them.</param>
/// <param name="MinTtl">The shortest time to live among the keys that have one.</param>
/// <param name="MaxTtl">The longest.</param>
/// <param name="Examples">A few of the keys (one without a TTL among them when there is one).</param>
public sealed record UncoveredShape(string Shape, long Count, long WithoutTtl, TimeSpan? MinTtl, TimeSpan? MaxTtl, IReadOnlyList<KeyExample> Examples);

/// <summary>
/// Tallies uncovered keys by shape. Memory is bounded by the number of shapes: past <c>maxShapes</c> distinct
/// shapes, further new ones are counted together under <see cref="OtherShapes"/>.
/// </summary>
public sealed class UncoveredKeys
{
    public const string OtherShapes = "(other shapes, past the report's limit)";

    private readonly Dictionary<string, Tally> _shapes = new(StringComparer.Ordinal);
    private readonly int _examplesPerShape;
    private readonly int _maxShapes;

    public UncoveredKeys(int examplesPerShape = 3, int maxShapes = 10_000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(examplesPerShape, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxShapes, 1);
        _examplesPerShape = examplesPerShape;
        _maxShapes = maxShapes;
    }

    public long Keys { get; private set; }

    public long WithoutTtl { get; private set; }

    public void Add(string key, TimeSpan? ttl)
    {
        var shape = KeyShape.Of(key);
        if (!_shapes.TryGetValue(shape, out var tally))
        {
            var distinct = _shapes.Count - (_shapes.ContainsKey(OtherShapes) ? 1 : 0);
            if (distinct >= _maxShapes)
            {
                shape = OtherShapes;
            }

            if (!_shapes.TryGetValue(shape, out tally))
            {
                tally = new Tally();
                _shapes[shape] = tally;
            }
        }

        Keys++;
        tally.Count++;
        if (ttl is { } t)
        {
            tally.MinTtl = tally.MinTtl is { } min && min <= t ? min : t;
            tally.MaxTtl = tally.MaxTtl is { } max && max >= t ? max : t;
        }
        else
        {
            WithoutTtl++;
            tally.WithoutTtl++;
        }

        var example = new KeyExample(key, ttl);
        if (tally.Examples.Count < _examplesPerShape)
        {
            tally.Examples.Add(example);
        }
        else if (ttl is null && tally.Examples.TrueForAll(e => e.Ttl is not null))
        {
            // The loudest kind of key must show among the examples.
            tally.Examples[^1] = example;
        }
    }

    /// <summary>Shapes with keys that never expire first (most such keys first), then by count, then by name.</summary>
    public IReadOnlyList<UncoveredShape> Shapes() =>
        _shapes
            .Select(s => new UncoveredShape(s.Key, s.Value.Count, s.Value.WithoutTtl, s.Value.MinTtl, s.Value.MaxTtl, s.Value.Examples.ToList()))
            .OrderByDescending(s => s.WithoutTtl)
            .ThenByDescending(s => s.Count)
            .ThenBy(s => s.Shape, StringComparer.Ordinal)
            .ToList();

    private sealed class Tally
    {
        public long Count { get; set; }

        public long WithoutTtl { get; set; }

        public TimeSpan? MinTtl { get; set; }

        public TimeSpan? MaxTtl { get; set; }

        public List<KeyExample> Examples { get; } = [];
    }
}
