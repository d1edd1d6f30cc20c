using Invalidator.Core.Planning;
using Invalidator.Worker.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Regions;

/// <summary>
/// Applies a batch in every region in parallel and returns only when all of them applied it: that is the
/// moment the batch's source positions may be acknowledged. A region that exhausts its retries is retried
/// with a growing pause while the others are left alone (they already applied; deletes are idempotent anyway).
/// </summary>
public sealed class RegionSet : IDisposable
{
    private static readonly TimeSpan FirstBatchRetryDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LastBatchRetryDelay = TimeSpan.FromSeconds(10);

    private readonly ILogger<RegionSet> _logger;
    private readonly TimeProvider _time;

    public RegionSet(IReadOnlyList<RegionInvalidator> regions, ILogger<RegionSet> logger, TimeProvider time)
    {
        Regions = regions;
        _logger = logger;
        _time = time;
    }

    public IReadOnlyList<RegionInvalidator> Regions { get; }

    /// <summary>Returns when every region applied the batch; throws only when cancelled (then nothing may be acknowledged).</summary>
    public async Task ApplyAsync(InvalidationBatch batch, CancellationToken cancellationToken)
    {
        if (batch.IsEmpty)
        {
            return;
        }

        var pending = Regions.ToList();
        var delay = FirstBatchRetryDelay;
        while (true)
        {
            var attempts = pending.Select(region => (region, task: region.ApplyAsync(batch.Keys, batch.Tags, cancellationToken))).ToList();
            try
            {
                await Task.WhenAll(attempts.Select(a => a.task)).ConfigureAwait(false);
            }
            catch when (!cancellationToken.IsCancellationRequested)
            {
                // Inspected per region below.
            }

            cancellationToken.ThrowIfCancellationRequested();
            pending.Clear();
            foreach (var (region, task) in attempts)
            {
                if (!task.IsCompletedSuccessfully)
                {
                    pending.Add(region);
                    Log.RegionBatchFailed(_logger, region.Name, batch.Keys.Count, batch.Tags.Count, delay, task.Exception?.GetBaseException() ?? new TaskCanceledException());
                }
            }

            if (pending.Count == 0)
            {
                return;
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LastBatchRetryDelay.Ticks));
        }
    }

    public void Dispose()
    {
        foreach (var region in Regions)
        {
            region.Connection.Dispose();
        }
    }
}
