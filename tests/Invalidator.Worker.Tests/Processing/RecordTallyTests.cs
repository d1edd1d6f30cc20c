using Invalidator.Worker.Events;
using Invalidator.Worker.Processing;

namespace Invalidator.Worker.Tests.Processing;

public sealed class RecordTallyTests
{
    [Fact]
    public void The_first_record_of_a_kind_is_published_at_once_and_the_rest_when_published()
    {
        var heard = new Heard();
        var tally = new RecordTally(new WorkerEvents([heard]));

        tally.Add("orders", "u", "invalidated");
        Assert.Equal([("orders", "u", "invalidated", 1L)], heard.Events);

        tally.Add("orders", "u", "invalidated");
        tally.Add("orders", "u", "invalidated");
        tally.Add("orders", "d", "no_rule");
        Assert.Equal(2, heard.Events.Count); // the new kind at once, the repeats wait

        tally.Publish();
        Assert.Equal(("orders", "u", "invalidated", 2L), heard.Events[2]);
        Assert.Equal(3, heard.Events.Count); // no_rule had nothing pending after its first

        tally.Publish();
        Assert.Equal(3, heard.Events.Count); // nothing pending, nothing published
    }

    [Fact]
    public void Over_any_sequence_the_published_counts_sum_to_the_records_of_each_kind()
    {
        // Random kinds, some strings equal by value but not by reference, publishes at random points.
        var random = new Random(21);
        for (var round = 0; round < 200; round++)
        {
            var heard = new Heard();
            var tally = new RecordTally(new WorkerEvents([heard]));
            var expected = new Dictionary<(string, string, string), long>();
            for (var i = random.Next(0, 400); i > 0; i--)
            {
                var kind = ($"topic{random.Next(3)}", random.Next(2) == 0 ? "u" : new string('c', 1), random.Next(4) == 0 ? "poison" : "invalidated");
                tally.Add(kind.Item1, kind.Item2, kind.Item3);
                expected[kind] = expected.GetValueOrDefault(kind) + 1;
                if (random.Next(50) == 0)
                {
                    tally.Publish();
                }
            }

            tally.Publish();
            var published = heard.Events.GroupBy(e => (e.Source, e.Op, e.Outcome)).ToDictionary(g => g.Key, g => g.Sum(e => e.Count));
            Assert.Equal(expected.OrderBy(k => k.Key), published.OrderBy(k => k.Key));
        }
    }

    private sealed class Heard : IEventListener<RecordHandled>
    {
        public List<(string Source, string Op, string Outcome, long Count)> Events { get; } = [];

        public void On(in RecordHandled e) => Events.Add((e.Source, e.Operation, e.Outcome, e.Count));
    }
}
