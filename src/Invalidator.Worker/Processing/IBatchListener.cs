namespace Invalidator.Worker.Processing;

/// <summary>
/// Told when a batch has been applied in every region, just before its positions are acknowledged (metrics,
/// status). An exception here stops the worker without acknowledging the batch (tests use that to crash
/// between delete and commit).
/// </summary>
public interface IBatchListener
{
    void OnApplied(SourceBatch batch);
}
