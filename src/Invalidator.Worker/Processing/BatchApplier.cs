using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Processing;

/// <summary>
/// The step every source shares: apply a batch in every region; a region that cannot apply it gets its
/// invalidations durably dead-lettered (and redriven later) so the healthy regions move on. When this
/// returns, the source may acknowledge the batch's positions; when it throws, it must not.
/// </summary>
public sealed class BatchApplier
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LastRetryDelay = TimeSpan.FromSeconds(10);

    private readonly RegionSet _regions;
    private readonly IRegionDeadLetterSink? _deadLetters;
    private readonly IEnumerable<IBatchListener> _listeners;
    private readonly InvalidatorMetrics _metrics;
    private readonly ILogger<BatchApplier> _logger;
    private readonly TimeProvider _time;
    private readonly WorkerStatus? _status;

    internal BatchApplier(
        RegionSet regions,
        IRegionDeadLetterSink? deadLetters,
        IEnumerable<IBatchListener> listeners,
        InvalidatorMetrics metrics,
        ILogger<BatchApplier> logger,
        TimeProvider time,
        WorkerStatus? status = null)
    {
        _regions = regions;
        _deadLetters = deadLetters;
        _listeners = listeners;
        _metrics = metrics;
        _logger = logger;
        _time = time;
        _status = status;
    }

    public async Task ApplyAsync(SourceBatch batch, CancellationToken cancellationToken)
    {
        var failures = await _regions.ApplyAsync(batch.Invalidations, cancellationToken).ConfigureAwait(false);
        var delay = FirstRetryDelay;
        while (failures.Count > 0)
        {
            if (_deadLetters is not null && await TryDeadLetterAsync(batch, failures, cancellationToken).ConfigureAwait(false))
            {
                break;
            }

            // No dead-letter store, or it failed: nothing is acknowledged; try the failed regions again.
            foreach (var failure in failures)
            {
                Log.RegionBatchFailed(_logger, failure.Region, batch.Invalidations.Keys.Count, batch.Invalidations.Tags.Count, Log.Describe(failure), delay);
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LastRetryDelay.Ticks));
            var failed = failures.Select(f => _regions.Find(f.Region)!).ToList();
            failures = await _regions.ApplyAsync(batch.Invalidations, cancellationToken, failed).ConfigureAwait(false);
        }

        _metrics.BatchSize.Record(batch.RecordCount);
        Log.BatchApplied(_logger, batch.RecordCount, batch.Invalidations.Keys.Count, batch.Invalidations.Tags.Count);
        foreach (var listener in _listeners)
        {
            listener.OnApplied(batch);
        }
    }

    private async Task<bool> TryDeadLetterAsync(SourceBatch batch, IReadOnlyList<RegionApplyException> failures, CancellationToken cancellationToken)
    {
        var sources = RegionDeadLetter.RangesOf(batch);
        try
        {
            foreach (var failure in failures)
            {
                Log.RegionBatchDeadLettered(_logger, failure.Region, batch.Invalidations.Keys.Count, batch.Invalidations.Tags.Count, failure.Attempts, Log.Describe(failure.InnerException));
                var letter = new RegionDeadLetter(
                    failure.Region,
                    batch.Invalidations.Keys.ToList(),
                    batch.Invalidations.Tags.ToList(),
                    (failure.InnerException ?? failure).Message,
                    failure.Attempts,
                    sources,
                    _time.GetUtcNow());
                await _deadLetters!.WriteAsync(letter, cancellationToken).ConfigureAwait(false);
                _status?.RegionDeadLettering(failure.Region, active: true);
            }

            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            return false;
        }
    }
}
