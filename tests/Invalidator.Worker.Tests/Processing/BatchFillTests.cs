using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Time.Testing;

namespace Invalidator.Worker.Tests.Processing;

/// <summary>Natural batching on a fake clock: when the batch being filled goes to the apply stage.</summary>
public sealed class BatchFillTests
{
    private readonly FakeTimeProvider _time = new();
    private readonly BatchFill _fill;

    public BatchFillTests()
    {
        _fill = new BatchFill(new BatchingOptions { MaxRecords = 100, MaxWait = TimeSpan.FromMilliseconds(50) }, _time);
    }

    [Fact]
    public void A_single_change_goes_at_once_when_nothing_else_is_ready_and_nothing_is_in_flight()
    {
        _fill.Added();
        Assert.Equal(TimeSpan.Zero, _fill.PollTimeout(1, inFlight: 0, hasRoom: true, idle: TimeSpan.FromSeconds(1)));
        Assert.True(_fill.IsDue(1, recordReady: false, inFlight: 0, hasRoom: true));
        Assert.False(_fill.IsDue(1, recordReady: true, inFlight: 0, hasRoom: true), "a record that is ready joins the batch first");
    }

    [Fact]
    public void With_batches_in_flight_the_batch_grows_until_max_wait_since_its_first_record()
    {
        _fill.Added();
        _time.Advance(TimeSpan.FromMilliseconds(20));
        Assert.False(_fill.IsDue(30, recordReady: false, inFlight: 2, hasRoom: true));
        Assert.Equal(BatchFill.Slice, _fill.PollTimeout(30, inFlight: 2, hasRoom: true, idle: TimeSpan.FromSeconds(1)));

        _time.Advance(TimeSpan.FromMilliseconds(27));
        Assert.Equal(TimeSpan.FromMilliseconds(3), _fill.PollTimeout(30, inFlight: 2, hasRoom: true, idle: TimeSpan.FromSeconds(1)));
        _time.Advance(TimeSpan.FromMilliseconds(3));
        Assert.True(_fill.IsDue(30, recordReady: true, inFlight: 2, hasRoom: true));
    }

    [Fact]
    public void A_full_batch_is_due_even_without_room_and_a_waited_one_only_with_room()
    {
        _fill.Added();
        Assert.True(_fill.IsDue(100, recordReady: true, inFlight: 4, hasRoom: false));
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.False(_fill.IsDue(99, recordReady: true, inFlight: 4, hasRoom: false), "without room the batch keeps filling");
        Assert.True(_fill.IsDue(99, recordReady: true, inFlight: 3, hasRoom: true));
    }

    [Fact]
    public void An_empty_batch_is_never_due_and_waits_the_idle_poll_and_reset_restarts_the_clock()
    {
        Assert.False(_fill.IsDue(0, recordReady: false, inFlight: 0, hasRoom: true));
        Assert.Equal(TimeSpan.FromSeconds(1), _fill.PollTimeout(0, inFlight: 0, hasRoom: true, idle: TimeSpan.FromSeconds(1)));
        _fill.Added();
        _time.Advance(TimeSpan.FromMilliseconds(60));
        _fill.Reset();
        Assert.Equal(TimeSpan.Zero, _fill.SinceFirst);
        _fill.Added();
        Assert.False(_fill.IsDue(5, recordReady: false, inFlight: 1, hasRoom: true));
    }

    [Fact]
    public void The_open_batch_is_due_after_max_wait_on_the_fake_clock_while_earlier_batches_are_in_flight()
    {
        _fill.Added();
        Assert.False(_fill.IsDue(1, recordReady: false, inFlight: 1, hasRoom: true));
        _time.Advance(TimeSpan.FromMilliseconds(49));
        Assert.False(_fill.IsDue(1, recordReady: false, inFlight: 1, hasRoom: true));
        _time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.True(_fill.IsDue(1, recordReady: false, inFlight: 1, hasRoom: true));
    }

    [Fact]
    public void With_a_read_wait_a_batch_goes_only_when_full_or_when_the_source_had_nothing_for_that_long()
    {
        var wait = TimeSpan.FromMilliseconds(100);
        var fill = new BatchFill(new BatchingOptions { MaxRecords = 100, MaxWait = TimeSpan.FromMilliseconds(50) }, _time, wait);
        fill.Added();
        _time.Advance(TimeSpan.FromSeconds(1));

        Assert.False(fill.IsDue(5, recordReady: true, inFlight: 0, hasRoom: true), "MaxWait does not cut a replay's batch");
        Assert.True(fill.IsDue(5, recordReady: false, inFlight: 3, hasRoom: true));
        Assert.True(fill.IsDue(100, recordReady: true, inFlight: 0, hasRoom: true));
        Assert.False(fill.IsDue(0, recordReady: false, inFlight: 0, hasRoom: true));
        Assert.Equal(wait, fill.PollTimeout(5, inFlight: 0, hasRoom: true, idle: TimeSpan.FromSeconds(1)));
        Assert.Equal(wait, fill.PollTimeout(0, inFlight: 0, hasRoom: true, idle: TimeSpan.FromSeconds(1)));
    }
}
