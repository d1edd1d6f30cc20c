namespace Invalidator.RaceHarness;

/// <summary>The workload of one race run.</summary>
public sealed record RaceSettings
{
    /// <summary>Rows of <c>race_items</c>, each cached as <c>item:{id}</c>. Fewer rows: more writes per key, more races.</summary>
    public int Rows { get; init; } = 100;

    /// <summary>Concurrent writers, each updating rows in a loop.</summary>
    public int Writers { get; init; } = 2;

    /// <summary>Rows one writer's UPDATE changes (one transaction); more rows per statement means more changes per second.</summary>
    public int RowsPerWrite { get; init; } = 1;

    /// <summary>The pause of a writer between two UPDATEs (zero: as fast as the database takes them).</summary>
    public TimeSpan WritePause { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Concurrent readers doing cache-aside reads of random rows.</summary>
    public int Readers { get; init; } = 16;

    /// <summary>
    /// The longest injected pause between a reader's database read and its populate (uniformly random from zero):
    /// the GC pause or slow network that lets an invalidation slip in between.
    /// </summary>
    public TimeSpan MaxPause { get; init; } = TimeSpan.FromMilliseconds(150);

    /// <summary>TTL of populated values: longer than the run, so only invalidations remove them.</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromMinutes(30);

    /// <summary>The run ends after this long ...</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>... or once this many populates were attempted, if set (the benchmark's "at least N racing populates").</summary>
    public long? TargetPopulates { get; init; }

    /// <summary>
    /// ... but not before this many row updates were committed (up to four times <see cref="Duration"/>): on a loaded
    /// machine a run of a few seconds may write too little for any race to happen, and prove nothing.
    /// </summary>
    public long MinRowWrites { get; init; }

    /// <summary>How long the worker may take to catch up with the last write after the run.</summary>
    public TimeSpan CatchUpTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>The readers' and writers' database connections at most (they queue beyond it; the pause needs none).</summary>
    public int MaxDatabaseConnections { get; init; } = 32;

    /// <summary>Seed of the random choices (rows, pauses), so a run can be repeated.</summary>
    public int Seed { get; init; } = 20_240_601;
}
