using Invalidator.Worker.Processing;
using Invalidator.Worker.Sources.Postgres;
using NpgsqlTypes;

namespace Invalidator.Worker.Tests.Sources.Postgres;

/// <summary>The direct source's positions: transaction boundaries, and what may be confirmed.</summary>
public sealed class ReplicationProgressTests
{
    private static readonly DateTimeOffset CommitTime = new(2026, 1, 2, 3, 4, 5, TimeSpan.Zero);
    private readonly ReplicationProgress _progress = new();

    private static NpgsqlLogSequenceNumber Lsn(ulong value) => new(value);

    [Fact]
    public void Changes_inside_a_transaction_are_tracked_at_the_boundary_before_it_and_the_commit_moves_to_its_end()
    {
        _progress.Begin(CommitTime);
        Assert.Equal((0L, 0L, CommitTime), _progress.Change(Lsn(150)));
        _progress.Commit(Lsn(200));
        Assert.Equal(Lsn(200), _progress.Boundary);

        _progress.Begin(CommitTime);
        Assert.Equal((200L, 200L, CommitTime), _progress.Change(Lsn(250)));
        Assert.Equal((200L, 200L, CommitTime), _progress.Change(Lsn(260)));
        Assert.Equal((200L, 300L), _progress.Commit(Lsn(300)));
        Assert.False(_progress.InTransaction);
        Assert.Null(_progress.CommitTime);
    }

    [Fact]
    public void A_batch_cut_mid_transaction_confirms_only_what_precedes_the_transaction()
    {
        _progress.Begin(CommitTime);
        _progress.Change(Lsn(110));
        _progress.Commit(Lsn(120));

        // The next transaction's first rows go out in a batch: it reaches the previous boundary only.
        _progress.Begin(CommitTime);
        var (_, cut, _) = _progress.Change(Lsn(130));
        var batch = new SourceBatch();
        batch.Track(PostgresChangeSource.SourceName, 0, cut, cut, CommitTime);
        Assert.Equal(120, batch.Progress.Single().NextPosition);

        _progress.Acknowledge(Lsn((ulong)batch.Progress.Single().NextPosition));
        Assert.Equal(Lsn(120), _progress.TakeConfirmation());
        Assert.Null(_progress.Idle(Lsn(500))); // inside the transaction the server's position is not taken
        Assert.Null(_progress.TakeConfirmation());
    }

    [Fact]
    public void A_non_transactional_message_is_a_boundary_of_its_own()
    {
        _progress.Commit(Lsn(100));
        Assert.Equal((100L, 180L, null), _progress.Change(Lsn(180)));
        Assert.Equal(Lsn(180), _progress.Boundary);
        Assert.Equal((180L, 180L, null), _progress.Change(Lsn(170))); // an older end never moves the boundary back
    }

    [Fact]
    public void Confirmation_follows_the_acknowledgements_and_the_server_position_is_a_range_for_the_tracker_outside_a_transaction()
    {
        _progress.Commit(Lsn(100));
        _progress.Acknowledge(Lsn(300));
        _progress.Acknowledge(Lsn(200)); // an older acknowledgement changes nothing
        Assert.Equal(Lsn(300), _progress.TakeConfirmation());
        Assert.Null(_progress.TakeConfirmation());

        // Quiet outside a transaction: the server's position is a range to move over, confirmed only once the
        // tracker acknowledges it (after everything read before it is done), like any transaction's end.
        Assert.Equal((100L, 900L), _progress.Idle(Lsn(900)));
        Assert.Equal(Lsn(900), _progress.Boundary);
        Assert.Null(_progress.TakeConfirmation());
        _progress.Acknowledge(Lsn(900));
        Assert.Equal(Lsn(900), _progress.TakeConfirmation());
        Assert.Equal(Lsn(900), _progress.Confirmed);
        Assert.Null(_progress.Idle(Lsn(800)));
        Assert.Null(_progress.Idle(Lsn(900)));
    }

    [Fact]
    public void A_lost_session_forgets_everything_unconfirmed()
    {
        _progress.Begin(CommitTime);
        _progress.Change(Lsn(10));
        _progress.Acknowledge(Lsn(5));

        _progress.Reset();

        Assert.False(_progress.InTransaction);
        Assert.Equal(default, _progress.Boundary);
        Assert.Equal(default, _progress.Confirmed);
        Assert.Equal(default, _progress.Acknowledged);
    }
}
