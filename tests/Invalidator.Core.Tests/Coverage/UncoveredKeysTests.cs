using Invalidator.Core.Coverage;

namespace Invalidator.Core.Tests.Coverage;

public class UncoveredKeysTests
{
    [Fact]
    public void Tallies_by_shape_with_counts_ttls_and_examples()
    {
        var tally = new UncoveredKeys(examplesPerShape: 2);
        tally.Add("session:1", TimeSpan.FromSeconds(30));
        tally.Add("session:2", TimeSpan.FromSeconds(90));
        tally.Add("session:3", TimeSpan.FromSeconds(60));
        tally.Add("report:2024", null);

        var shapes = tally.Shapes();

        Assert.Equal(4, tally.Keys);
        Assert.Equal(1, tally.WithoutTtl);
        Assert.Equal(["report:{#}", "session:{#}"], shapes.Select(s => s.Shape));
        var session = shapes[1];
        Assert.Equal((3, 0L), (session.Count, session.WithoutTtl));
        Assert.Equal(TimeSpan.FromSeconds(30), session.MinTtl);
        Assert.Equal(TimeSpan.FromSeconds(90), session.MaxTtl);
        Assert.Equal(["session:1", "session:2"], session.Examples.Select(e => e.Key));
        Assert.Null(shapes[0].MinTtl);
        Assert.Equal(new KeyExample("report:2024", null), Assert.Single(shapes[0].Examples));
    }

    [Fact]
    public void Shapes_whose_keys_never_expire_come_first_even_when_smaller()
    {
        var tally = new UncoveredKeys();
        for (var i = 0; i < 100; i++)
        {
            tally.Add($"cache:{i}", TimeSpan.FromMinutes(5));
        }

        tally.Add("forever:1", null);
        tally.Add("mixed:1", TimeSpan.FromMinutes(1));
        tally.Add("mixed:2", null);
        tally.Add("mixed:3", null);

        Assert.Equal(["mixed:{#}", "forever:{#}", "cache:{#}"], tally.Shapes().Select(s => s.Shape));
    }

    [Fact]
    public void A_key_without_ttl_is_always_among_the_examples()
    {
        var tally = new UncoveredKeys(examplesPerShape: 2);
        tally.Add("k:1", TimeSpan.FromSeconds(1));
        tally.Add("k:2", TimeSpan.FromSeconds(1));
        tally.Add("k:3", TimeSpan.FromSeconds(1));
        tally.Add("k:4", null);
        tally.Add("k:5", null);

        var shape = Assert.Single(tally.Shapes());
        Assert.Equal(["k:1", "k:4"], shape.Examples.Select(e => e.Key));
    }

    [Fact]
    public void Shapes_past_the_limit_are_counted_together()
    {
        var tally = new UncoveredKeys(maxShapes: 2);
        tally.Add("a", null);
        tally.Add("b", null);
        tally.Add("c", null);
        tally.Add("d", TimeSpan.FromSeconds(1));
        tally.Add("a", null);

        var shapes = tally.Shapes();

        Assert.Equal(3, shapes.Count);
        Assert.Equal(5, shapes.Sum(s => s.Count));
        Assert.Equal((2L, 2L), (shapes.Single(s => s.Shape == "a").Count, shapes.Single(s => s.Shape == "a").WithoutTtl));
        var other = shapes.Single(s => s.Shape == UncoveredKeys.OtherShapes);
        Assert.Equal((2L, 1L), (other.Count, other.WithoutTtl));
    }
}
