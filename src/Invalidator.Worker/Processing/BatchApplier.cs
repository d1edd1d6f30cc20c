using Invalidator.Core.Planning;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Processing;

/// <summary>
/// The work every source's batches share, in two parts that finish independently: apply the batch in every
/// region (a region that cannot apply it gets its invalidations durably dead-lettered, and redriven later, so the
/// healthy regions move on), and write the batch's poison records to the dead-letter store. Each part returns only
/// once its work is durable; when it throws, nothing of the batch may be acknowledged. The delayed second delete
/// (<see cref="SecondDeleteScheduler"/>) is applied the same way, through the same regions and dead letters.
/// </summary>
internal sealed class BatchApplier
{
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(200);
    private static readonly TimeSpan LastRetryDelay = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan PoisonRetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly RegionSet _regions;
    private readonly IDeadLetterWriter? _deadLetters;
    private readonly IEnumerable<IBatchListener> _listeners;
    private readonly WorkerEvents _events;
    private readonly ILogger<BatchApplier> _logger;
    private readonly TimeProvider _time;
    private readonly ConsistencyOptions _consistency;
    private readonly RegionPoisonWriter _refusals;

    /// <summary>The host's: <c>Invalidator:Consistency</c> from the options; the dead-letter writer when the source has one.</summary>
    public BatchApplier(
        RegionSet regions,
        IEnumerable<IBatchListener> listeners,
        WorkerEvents events,
        ILogger<BatchApplier> logger,
        TimeProvider time,
        IOptions<InvalidatorOptions> options,
        KeyRedaction redaction,
        LiveRules rules,
        IDeadLetterWriter? deadLetters = null)
        : this(regions, deadLetters, listeners, events, logger, time, options?.Value.Consistency ?? throw new ArgumentNullException(nameof(options)), redaction, rules)
    {
    }

    internal BatchApplier(
        RegionSet regions,
        IDeadLetterWriter? deadLetters,
        IEnumerable<IBatchListener> listeners,
        WorkerEvents events,
        ILogger<BatchApplier> logger,
        TimeProvider time,
        ConsistencyOptions? consistency = null,
        KeyRedaction? redaction = null,
        LiveRules? rules = null)
    {
        _regions = regions;
        _deadLetters = deadLetters;
        _listeners = listeners;
        _events = events;
        _logger = logger;
        _time = time;
        _consistency = consistency ?? new ConsistencyOptions();
        _refusals = new RegionPoisonWriter(deadLetters, events, logger, time, redaction, rules);
    }

    /// <summary>A scheduler for one pipeline's second deletes, with the configured delay and bound.</summary>
    public SecondDeleteScheduler NewSecondDeleteScheduler(Action<SecondDeleteRun> start, CancellationToken abandon) =>
        new(_consistency.SecondDeleteDelay, _consistency.SecondDeleteMaxPending, _time, start, _logger, _events, abandon);

    /// <summary>
    /// Applies the batch in every region, or dead-letters a failed region's share, then tells the listeners. The
    /// pipeline attaches the batch's second delete to <paramref name="tracked"/> once this returns, before the part
    /// that ran it completes (<see cref="BatchPipeline"/>).
    /// </summary>
    public async Task ApplyAsync(TrackedBatch tracked, CancellationToken cancellationToken)
    {
        var batch = tracked.Batch;
        await ApplyDurablyAsync(batch.Invalidations, DeleteRound.First, batch.Ranges, cancellationToken).ConfigureAwait(false);
        _events.Publish(batch.ToAppliedEvent(_time.GetUtcNow()));
        Log.BatchApplied(_logger, batch.RecordCount, batch.Invalidations.Keys.Count, batch.Invalidations.Tags.Count);
        foreach (var listener in _listeners)
        {
            listener.OnApplied(batch);
        }
    }

    /// <summary>
    /// Applies a due second delete in every region, like a first delete: a region that cannot gets its share durably
    /// dead-lettered (and redriven), and with no dead-letter store it is retried until it can. Returns once it is durable.
    /// </summary>
    public async Task ApplySecondDeleteAsync(SecondDeleteRun run, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(run);
        var invalidations = run.Invalidations();
        await ApplyDurablyAsync(invalidations, DeleteRound.Second, run.Sources, cancellationToken).ConfigureAwait(false);
        Log.SecondDeleteApplied(_logger, invalidations.Keys.Count, invalidations.Tags.Count, run.Batches.Count(), run.Early ? "early, the pending bound was reached" : "due");
    }

    /// <summary>
    /// Applies a batch's replica delete (its names that wait for the read replicas, once they replayed the change) in
    /// every region, like a second delete: durably, dead-lettered where a region cannot. Returns once it is durable.
    /// </summary>
    public async Task ApplyReplicaDeleteAsync(TrackedBatch tracked, InvalidationBatch names, IReadOnlyList<string> expired, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tracked);
        ArgumentNullException.ThrowIfNull(names);
        ArgumentNullException.ThrowIfNull(expired);
        await ApplyDurablyAsync(names, DeleteRound.AfterReplicas, tracked.Batch.Ranges, cancellationToken).ConfigureAwait(false);
        Log.ReplicaDeleteApplied(_logger, names.Keys.Count, names.Tags.Count, expired.Count == 0 ? "every replica replayed it" : "at the bound, without " + string.Join(", ", expired));
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

            // The reason may quote the record: control characters escaped before it is shown or logged.
            _events.Publish(new DeadLetterWritten(DeadLetterKinds.Poison, "", LogText.Escape($"{poison.PositionText}: {poison.Reason}")));
            Log.RecordDeadLettered(_logger, poison.PositionText, store.Name, LogText.Escape(poison.Reason));
        }
    }

    /// <summary>
    /// Applies the invalidations in every region; the regions that fail are dead-lettered, and while that fails too (or
    /// there is no store) they are tried again, so this returns only once every region's share is durable. The names a
    /// region's server refused for good (the rest applied) are written as that region's poison letters, also durably.
    /// </summary>
    private async Task ApplyDurablyAsync(
        InvalidationBatch invalidations, DeleteRound round, Func<IReadOnlyList<RegionDeadLetter.SourceRange>> sources, CancellationToken cancellationToken)
    {
        var result = await _regions.ApplyAsync(invalidations, cancellationToken, round: round).ConfigureAwait(false);
        var refused = new List<RegionRefusals>(result.Refused);
        var failures = result.Failures;
        var delay = FirstRetryDelay;
        while (failures.Count > 0)
        {
            if (_deadLetters is not null && await TryDeadLetterAsync(_deadLetters, invalidations, round, sources(), failures, cancellationToken).ConfigureAwait(false))
            {
                break;
            }

            // No dead-letter store, or it failed: nothing is acknowledged; try the failed regions again.
            foreach (var failure in failures)
            {
                Log.RegionBatchFailed(_logger, failure.Region, invalidations.Keys.Count, invalidations.Tags.Count, Log.Describe(failure), delay);
            }

            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, LastRetryDelay.Ticks));
            var failed = failures.Select(f => _regions.Find(f.Region)!).ToList();
            result = await _regions.ApplyAsync(invalidations, cancellationToken, failed, round).ConfigureAwait(false);
            refused.AddRange(result.Refused);
            failures = result.Failures;
        }

        foreach (var refusals in refused)
        {
            await WriteRefusedAsync(refusals, round, sources(), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes a region's refused names as poison letters, retrying until they are durable (like a poison record).</summary>
    private async Task WriteRefusedAsync(RegionRefusals refusals, DeleteRound round, IReadOnlyList<RegionDeadLetter.SourceRange> sources, CancellationToken cancellationToken)
    {
        var what = RoundPrefix(round);
        while (true)
        {
            try
            {
                await _refusals.WriteAsync(refusals, what, sources, cancellationToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.DeadLetterWriteFailed(_logger, _deadLetters?.Name ?? "store", ex);
                await Task.Delay(PoisonRetryDelay, _time, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    private static string RoundPrefix(DeleteRound round) => round switch
    {
        DeleteRound.Second => "second delete: ",
        DeleteRound.AfterReplicas => "replica delete: ",
        _ => "",
    };

    private async Task<bool> TryDeadLetterAsync(
        IDeadLetterWriter store, InvalidationBatch invalidations, DeleteRound round, IReadOnlyList<RegionDeadLetter.SourceRange> sources,
        IReadOnlyList<RegionApplyException> failures, CancellationToken cancellationToken)
    {
        // A later delete's letter says so: redriving it deletes the names again, which is all such a delete does.
        var what = RoundPrefix(round);
        try
        {
            foreach (var failure in failures)
            {
                Log.RegionBatchDeadLettered(_logger, failure.Region, invalidations.Keys.Count, invalidations.Tags.Count, failure.Attempts, what + Log.Describe(failure.InnerException));
                var letter = new RegionDeadLetter(
                    failure.Region,
                    invalidations.Keys.ToList(),
                    invalidations.Tags.ToList(),
                    what + (failure.InnerException ?? failure).Message,
                    failure.Attempts,
                    sources,
                    _time.GetUtcNow());
                await store.WriteRegionLetterAsync(letter, cancellationToken).ConfigureAwait(false);
                _events.Publish(new DeadLetterWritten(DeadLetterKinds.Region, letter.Region, LogText.Escape($"{letter.Keys.Count} keys, {letter.Tags.Count} tags: {letter.Reason}")));
                _events.Publish(new RegionDeadLetteringStarted(failure.Region));
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
