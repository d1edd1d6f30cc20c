using Invalidator.Worker.Consistency;
using Invalidator.Worker.Events;

namespace Invalidator.Worker.Tests.Consistency;

/// <summary>
/// The applied position of read-your-writes: a position counts once everything read before it is applied, whatever
/// order batches finish in; a region that dead-letters stops until its redrive has emptied its backlog; never behind.
/// </summary>
public sealed class AppliedPositionsTests
{
    private static readonly DateTimeOffset At = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);
    private readonly AppliedPositions _positions = new();
    private readonly WorkerEvents _events;

    public AppliedPositionsTests() => _events = new WorkerEvents([_positions]);

    [Fact]
    public void A_position_counts_only_once_every_batch_read_before_it_is_applied()
    {
        Submit(1, 100);
        Submit(2, 200);
        Submit(3, 300);
        Assert.Equal(0UL, _positions.Applied("east"));

        Apply(2);
        Assert.Equal(0UL, _positions.Applied("east")); // batch 1 still waits: its changes come before 200
        Apply(1);
        Assert.Equal(200UL, _positions.Applied("east"));
        Apply(3);
        Assert.Equal(300UL, _positions.Applied("east"));
    }

    [Fact]
    public void A_position_only_batch_is_passed_at_once_behind_applied_batches_but_not_ahead_of_unapplied_ones()
    {
        Submit(1, 100);
        Submit(2, 150, positionOnly: true); // the transaction's commit, after its records in batch 1
        Assert.Equal(0UL, _positions.Applied("east"));
        Apply(1);
        Assert.Equal(150UL, _positions.Applied("east"));

        Submit(3, 400, positionOnly: true); // the server's position while idle
        Assert.Equal(400UL, _positions.Applied("east"));
    }

    [Fact]
    public void Positions_of_a_new_session_behind_the_watermark_do_not_move_it_back()
    {
        Submit(1, 500);
        Apply(1);
        Submit(2, 300); // streamed again from the slot's confirmed position
        Apply(2);
        Assert.Equal(500UL, _positions.Applied("east"));
    }

    [Fact]
    public void Other_sources_partitions_are_not_tracked()
    {
        _events.Publish(new BatchSubmitted(1, [new PartitionSubmitted(new SourcePartition("orders", 0), At, 100)], At));
        Submit(2, 50);
        Apply(2);
        Assert.Equal(50UL, _positions.Applied("east"));
    }

    [Fact]
    public void A_region_that_dead_letters_stops_until_its_redrive_was_seen_empty_twice()
    {
        Submit(1, 100);
        Apply(1);
        var changed = _positions.Changed;
        _events.Publish(new RegionDeadLetteringStarted("west"));
        Assert.True(changed.IsCompleted, "freezing a region wakes the writer");
        Submit(2, 200);
        Apply(2);
        Assert.Null(_positions.Applied("west"));
        Assert.Equal(200UL, _positions.Applied("east"));

        // One empty turn may have measured before the letter was written: not enough.
        _events.Publish(new RedriveBacklogMeasured("west", null));
        Assert.Null(_positions.Applied("west"));
        _events.Publish(new RedriveBacklogMeasured("west", At, "letter 1"));
        _events.Publish(new RedriveBacklogMeasured("west", null));
        Assert.Null(_positions.Applied("west"));
        _events.Publish(new RedriveBacklogMeasured("west", null));
        Assert.Equal(200UL, _positions.Applied("west"));
    }

    [Fact]
    public void The_changed_signal_completes_when_the_watermark_moves()
    {
        Submit(1, 100);
        var changed = _positions.Changed;
        Assert.False(changed.IsCompleted);
        Apply(1);
        Assert.True(changed.IsCompleted);
    }

    private void Submit(long batch, long position, bool positionOnly = false) =>
        _events.Publish(new BatchSubmitted(batch, [new PartitionSubmitted(AppliedPositions.Stream, positionOnly ? null : At, position)], At, positionOnly));

    private void Apply(long batch) =>
        _events.Publish(new BatchApplied(1, [], [new PartitionApplied(AppliedPositions.Stream, 0, At)], At, batch));
}
