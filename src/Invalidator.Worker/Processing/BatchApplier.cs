using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Processing;

/// <summary>
/// The work every source's batches share, in two parts that finish independently: apply the batch in every
/// region (a region that cannot apply it gets its invalidations durably dead-lettered, and redriven later, so the
/// healthy regions move on), and write the batch's poison records to the dead-letter store. Each part returns only
/// once its work is durable; when it throws, nothing of the batch may be acknowledged.
/// </summary>
internal sealed class BatchApplier
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LastRetryDelay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PoisonRetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly RegionSet _regions;
    private readonly IDeadLetterStore? _deadLetters;
    private readonly IEnumerable<IBatchListener> _listeners;
    private readonly InvalidatorMetrics _metrics;
    private readonly ILogger<BatchApplier> _logger;
    private readonly TimeProvider _time;
    private readonly WorkerStatus? _status;

    internal BatchApplier(
        RegionSet regions,
        IDeadLetterStore? deadLetters,
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

    /// <summary>
    /// Applies the batch in every region, or dead-letters a failed region's share, then tells the listeners.
    /// <paramref name="tracked"/> is where work that finishes later would attach its own part.
    /// </summary>
    public async Task ApplyAsync(TrackedBatch tracked, CancellationToken cancellationToken)
    {
        var batch = tracked.Batch;
        var failures = await _regions.ApplyAsync(batch.Invalidations, cancellationToken).ConfigureAwait(false);
        var delay = FirstRetryDelay;
        while (failures.Count > 0)
        {
            if (_deadLetters is not null && await TryDeadLetterAsync(_deadLetters, batch, failures, cancellationToken).ConfigureAwait(false))
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

    /// <summary>Writes the batch's poison records to the dead-letter store, retrying each until it is durable.</summary>
    public async Task WritePoisonAsync(SourceBatch batch, CancellationToken cancellationToken)
    {
        if (batch.Poison.Count == 0)
        {
            return;
        }

        var store = _deadLetters ?? throw new InvalidOperationException("A poison record cannot be acknowledged: no dead-letter store is registered.");
        foreach (var poison in batch.Poison)
        {
            while (true)
            {
                try
                {
                    await store.WritePoisonAsync(poison, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.DeadLetterWriteFailed(_logger, store.Name, ex);
                    await Task.Delay(PoisonRetryDelay, _time, cancellationToken).ConfigureAwait(false);
                }
            }

            _metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", DeadLetterKinds.Poison), new KeyValuePair<string, object?>("region", ""));
            _status?.DeadLettered(DeadLetterKinds.Poison, "", $"{poison.PositionText}: {poison.Reason}");
            Log.RecordDeadLettered(_logger, poison.PositionText, store.Name, poison.Reason);
        }
    }

    private async Task<bool> TryDeadLetterAsync(IDeadLetterStore store, SourceBatch batch, IReadOnlyList<RegionApplyException> failures, CancellationToken cancellationToken)
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
                await store.WriteRegionLetterAsync(letter, cancellationToken).ConfigureAwait(false);
                _metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", DeadLetterKinds.Region), new KeyValuePair<string, object?>("region", letter.Region));
                _status?.DeadLettered(DeadLetterKinds.Region, letter.Region, $"{letter.Keys.Count} keys, {letter.Tags.Count} tags: {letter.Reason}");
                _status?.RegionDeadLettering(failure.Region, active: true);
            }

            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            Log.DeadLetterWriteFailed(_logger, store.Name, ex);
            return false;
        }
    }
}
