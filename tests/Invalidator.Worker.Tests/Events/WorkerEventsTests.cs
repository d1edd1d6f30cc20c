using Invalidator.Worker.Events;

namespace Invalidator.Worker.Tests.Events;

/// <summary>The publisher: each reader gets the events it reads, in order, and a publish on the hot path allocates nothing.</summary>
public sealed class WorkerEventsTests
{
    [Fact]
    public void Each_listener_reads_only_the_events_it_implements()
    {
        var regions = new RegionReader();
        var records = new RecordCounter();
        var events = new WorkerEvents([regions, records]);

        events.Publish(new RegionApplied("east", 3, 1, TimeSpan.FromMilliseconds(2)));
        events.Publish(new RecordHandled("orders", "u", "invalidated"));
        events.Publish(new CircuitOpened("west"));
        events.Publish(new RecordHandled("orders", "d", "no_rule"));
        events.Publish(new ConsumeLoopTicked("kafka")); // nobody reads it

        Assert.Equal(["applied east 3/1", "circuit west"], regions.Seen);
        Assert.Equal(2, records.Count);
        Assert.Equal("no_rule", records.LastOutcome);
    }

    [Fact]
    public void Two_publishers_keep_their_own_readers()
    {
        var first = new RecordCounter();
        var second = new RecordCounter();
        new WorkerEvents([first]).Publish(new RecordHandled("t", "c", "invalidated"));
        new WorkerEvents([second]).Publish(new RecordHandled("t", "c", "invalidated"));
        WorkerEvents.None.Publish(new RecordHandled("t", "c", "invalidated"));

        Assert.Equal(1, first.Count);
        Assert.Equal(1, second.Count);
    }

    [Fact]
    public void Publishing_a_record_event_allocates_nothing()
    {
        var records = new RecordCounter();
        var events = new WorkerEvents([records, new RegionReader()]);
        events.Publish(new RecordHandled("orders", "u", "invalidated")); // the first publish finds the readers

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            events.Publish(new RecordHandled("orders", "u", "invalidated"));
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(10_001, records.Count);
    }

    private sealed class RegionReader : IEventListener<RegionApplied>, IEventListener<CircuitOpened>
    {
        public List<string> Seen { get; } = [];

        public void On(in RegionApplied e) => Seen.Add($"applied {e.Region} {e.KeysDeleted}/{e.KeysFound}");

        public void On(in CircuitOpened e) => Seen.Add($"circuit {e.Region}");
    }

    private sealed class RecordCounter : IEventListener<RecordHandled>
    {
        public int Count { get; private set; }

        public string? LastOutcome { get; private set; }

        public void On(in RecordHandled e)
        {
            Count++;
            LastOutcome = e.Outcome;
        }
    }
}
