namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Durable storage for a region's invalidations that it could not apply. A write returns only once the
/// letter is durable: then the source may acknowledge the batch for that region.
/// </summary>
public interface IRegionDeadLetterSink
{
    Task WriteAsync(RegionDeadLetter letter, CancellationToken cancellationToken);
}
