namespace Invalidator.Client;

/// <summary>How one read of a <see cref="LeasedCache"/> treats the cache.</summary>
public sealed class LeasedReadOptions
{
    /// <summary>
    /// Read-your-writes (direct mode): the LSN the reader's own write committed at, as <c>SELECT pg_current_wal_lsn()</c>
    /// gave it after the commit (<c>16/B374D848</c>). Until the region's applied position (<see cref="AppliedPosition.KeyName"/>)
    /// is at or past it, the read bypasses the cache: it loads from the database and does not populate, so it sees the
    /// write and leaves no value the invalidation has yet to delete. Null: an ordinary read. Keep the LSN with the
    /// user's session for a few seconds after the write; later the position is past it and the read costs one GET more.
    /// </summary>
    public string? AfterLsn { get; init; }
}
