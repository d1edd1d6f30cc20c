using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Processing;

/// <summary>
/// The step every source shares: apply a batch in every region, then tell the listeners. When it returns,
/// the source may acknowledge the batch's positions; when it throws, it must not.
/// </summary>
public sealed class BatchApplier
{
    private readonly RegionSet _regions;
    private readonly IEnumerable<IBatchListener> _listeners;
    private readonly InvalidatorMetrics _metrics;
    private readonly ILogger<BatchApplier> _logger;

    internal BatchApplier(RegionSet regions, IEnumerable<IBatchListener> listeners, InvalidatorMetrics metrics, ILogger<BatchApplier> logger)
    {
        _regions = regions;
        _listeners = listeners;
        _metrics = metrics;
        _logger = logger;
    }

    public async Task ApplyAsync(SourceBatch batch, CancellationToken cancellationToken)
    {
        await _regions.ApplyAsync(batch.Invalidations, cancellationToken).ConfigureAwait(false);
        _metrics.BatchSize.Record(batch.RecordCount);
        Log.BatchApplied(_logger, batch.RecordCount, batch.Invalidations.Keys.Count, batch.Invalidations.Tags.Count);
        foreach (var listener in _listeners)
        {
            listener.OnApplied(batch);
        }
    }
}
