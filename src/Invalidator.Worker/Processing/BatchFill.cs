using Invalidator.Worker.Options;

namespace Invalidator.Worker.Processing;

/// <summary>
/// Natural batching, for every source: the batch being filled goes to the apply stage when it is full, when
/// <c>MaxWait</c> has passed since its first record, or at once when no further record is ready and nothing is
/// in flight. At low load a single change is applied without waiting; under load the batches grow by themselves
/// while earlier ones are applied. With a <c>readWait</c> (a replay reading a backlog) the batch goes only when it is
/// full or the source had nothing for that long: the end of what is there, not a pause between records.
/// </summary>
internal sealed class BatchFill(BatchingOptions options, TimeProvider time, TimeSpan? readWait = null)
{
    /// <summary>How long a source waits for a record at most before it looks at the batch and the tracker again.</summary>
    public static readonly TimeSpan Slice = TimeSpan.FromMilliseconds(5);

    private long? _firstAt;

    public int MaxRecords => options.MaxRecords;

    /// <summary>Time since the batch's first record; zero while it is empty.</summary>
    public TimeSpan SinceFirst => _firstAt is { } first ? time.GetElapsedTime(first) : TimeSpan.Zero;

    /// <summary>A record went into the batch (the first one starts the clock).</summary>
    public void Added() => _firstAt ??= time.GetTimestamp();

    /// <summary>The batch went to the apply stage (or was emptied): the next one starts from nothing.</summary>
    public void Reset() => _firstAt = null;

    public bool IsFull(int records) => records >= options.MaxRecords;

    /// <summary>
    /// Whether a batch of <paramref name="records"/> should go now: full (the caller then waits for room), or
    /// there is room and either it has waited <c>MaxWait</c> or nothing is ready and nothing is in flight.
    /// </summary>
    public bool IsDue(int records, bool recordReady, int inFlight, bool hasRoom) =>
        records > 0 && (IsFull(records) || (readWait is null
            ? hasRoom && (SinceFirst >= options.MaxWait || (!recordReady && inFlight == 0))
            : !recordReady));

    /// <summary>How long to wait for the next record before asking <see cref="IsDue"/> again.</summary>
    public TimeSpan PollTimeout(int records, int inFlight, bool hasRoom, TimeSpan idle)
    {
        if (readWait is { } wait)
        {
            return wait;
        }

        if (records == 0)
        {
            return idle;
        }

        if (inFlight == 0)
        {
            return TimeSpan.Zero; // only what is ready joins the batch
        }

        if (!hasRoom)
        {
            return Slice; // keep filling while the slots are taken; look for a free one often
        }

        var left = options.MaxWait - SinceFirst;
        return left <= TimeSpan.Zero ? TimeSpan.Zero : left < Slice ? left : Slice;
    }
}
