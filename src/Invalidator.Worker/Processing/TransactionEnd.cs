namespace Invalidator.Worker.Processing;

/// <summary>
/// The end of the transaction the direct source is reading, for the batches cut before its commit was read: their
/// replica wait needs it (<see cref="SourceBatch.ReplicaPositionAsync"/>). Made only when a batch is cut inside a
/// transaction, so a stream of small transactions allocates none.
/// </summary>
internal sealed class TransactionEnd
{
    private readonly TaskCompletionSource<ulong> _end = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The end LSN, or 0 when the session ended before the commit (the position is unknown then).</summary>
    public Task<ulong> Task => _end.Task;

    public void Committed(ulong endLsn) => _end.TrySetResult(endLsn);

    public void Lost() => _end.TrySetResult(0);
}
