using NpgsqlTypes;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// Where the replication stream is, in the positions the slot may be confirmed at. Pure: no connection;
/// <see cref="PostgresChangeSource"/> feeds it the stream's messages and the tracker's acknowledgements.
/// </summary>
/// <remarks>
/// pgoutput sends whole committed transactions in commit order, and the slot may be confirmed only at a
/// transaction boundary: a change inside a transaction is tracked at the end of the last whole transaction before
/// it (<see cref="Boundary"/>), so a batch cut mid-transaction confirms only what precedes the transaction; the
/// commit moves the position to the transaction's end, once every batch holding its changes is done.
/// </remarks>
internal sealed class ReplicationProgress
{
    /// <summary>Between a Begin and its Commit.</summary>
    public bool InTransaction { get; private set; }

    /// <summary>The open transaction's commit time (pgoutput sends it in the Begin).</summary>
    public DateTimeOffset? CommitTime { get; private set; }

    /// <summary>The end of the last whole transaction (or non-transactional message) seen: the latest position a change can be confirmed at.</summary>
    public NpgsqlLogSequenceNumber Boundary { get; private set; }

    /// <summary>The last position confirmed to the slot in this session.</summary>
    public NpgsqlLogSequenceNumber Confirmed { get; private set; }

    /// <summary>The furthest position the tracker acknowledged and not yet confirmed (or already confirmed).</summary>
    public NpgsqlLogSequenceNumber Acknowledged { get; private set; }

    public void Begin(DateTimeOffset commitTime)
    {
        InTransaction = true;
        CommitTime = commitTime;
    }

    /// <summary>
    /// A decoded change at <paramref name="walEnd"/>: the range to track it with (from, to). Inside a transaction
    /// both are the boundary before it; a non-transactional logical message is a boundary of its own.
    /// </summary>
    public (long From, long To, DateTimeOffset? CommitTime) Change(NpgsqlLogSequenceNumber walEnd)
    {
        if (InTransaction)
        {
            return ((long)(ulong)Boundary, (long)(ulong)Boundary, CommitTime);
        }

        var previous = Boundary;
        if (walEnd > Boundary)
        {
            Boundary = walEnd;
        }

        return ((long)(ulong)previous, (long)(ulong)Boundary, null);
    }

    /// <summary>The transaction ended at <paramref name="endLsn"/>: the range its commit moves the position over.</summary>
    public (long From, long To) Commit(NpgsqlLogSequenceNumber endLsn)
    {
        var previous = Boundary;
        InTransaction = false;
        CommitTime = null;
        if (endLsn > Boundary)
        {
            Boundary = endLsn;
        }

        return ((long)(ulong)previous, (long)(ulong)Boundary);
    }

    /// <summary>The tracker says everything up to <paramref name="lsn"/> is done.</summary>
    public void Acknowledge(NpgsqlLogSequenceNumber lsn)
    {
        if (lsn > Acknowledged)
        {
            Acknowledged = lsn;
        }
    }

    /// <summary>
    /// The stream is quiet: outside a transaction, the server's last position (<paramref name="lastReceived"/>, a
    /// commit or a keepalive) becomes the boundary, and the range to move over without a record. pgoutput sends a
    /// transaction only once it committed, so every transaction that committed before that position has been read
    /// whole; the tracker acknowledges the range once they are all done, and the slot releases WAL that only other
    /// tables or databases wrote. Inside a transaction, or when the server is not further, null.
    /// </summary>
    public (long From, long To)? Idle(NpgsqlLogSequenceNumber lastReceived)
    {
        if (InTransaction || lastReceived <= Boundary)
        {
            return null;
        }

        var previous = Boundary;
        Boundary = lastReceived;
        return ((long)(ulong)previous, (long)(ulong)Boundary);
    }

    /// <summary>The position to confirm to the slot now, if the tracker's acknowledgements moved it.</summary>
    public NpgsqlLogSequenceNumber? TakeConfirmation()
    {
        if (Acknowledged <= Confirmed)
        {
            return null;
        }

        Confirmed = Acknowledged;
        return Confirmed;
    }

    /// <summary>The session ended: what it streamed but did not confirm is streamed again by the next one.</summary>
    public void Reset()
    {
        InTransaction = false;
        CommitTime = null;
        Boundary = default;
        Confirmed = default;
        Acknowledged = default;
    }
}
