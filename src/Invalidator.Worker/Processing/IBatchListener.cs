namespace Invalidator.Worker.Processing;

/// <summary>
/// Told when a batch has been applied in every region (or its share durably dead-lettered), before its positions
/// can be acknowledged: a seam for tests and benchmarks (the metrics and the status read the <c>BatchApplied</c> event). Batches in flight finish in any order, so calls come in that order, from
/// the thread that applied the batch. An exception here stops the worker without acknowledging the batch (tests use
/// that to crash between delete and commit).
/// </summary>
internal interface IBatchListener
{
    void OnApplied(SourceBatch batch);
}
