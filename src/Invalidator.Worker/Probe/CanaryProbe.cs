using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Probe;

/// <summary>What one canary did in one region, for <c>probe --once</c>.</summary>
internal sealed record CanaryOutcome(string Region, string Canary, CanaryResult Result, TimeSpan? Freshness, string? Reason);

/// <summary>
/// One round of the freshness probe: a canary <c>invalidator:canary:&lt;worker&gt;:&lt;seq&gt;</c> written in every region,
/// then the worker's row of the canary table updated to <c>seq</c>. The change travels the whole path (Debezium and Kafka,
/// or the slot), the canary table's built-in rule renders the canary's name, and a worker deletes it like any other key.
/// Each region is watched from the commit until its canary is gone: <c>ok</c> within the objective, <c>late</c> after
/// it, <c>lost</c> when not gone by the deadline. Rounds may overlap (a slow region keeps its watch while the next
/// round starts); each publishes <see cref="CanaryMeasured"/> per region.
/// </summary>
internal sealed class CanaryProbe(
    ProbeOptions options,
    ChangeSourceKind source,
    IReadOnlyList<ICanaryTarget> targets,
    CanaryTable table,
    string worker,
    WorkerEvents events,
    ILogger logger,
    TimeProvider time)
{
    /// <summary>How often a region is asked whether its canary is gone: fine enough for an objective of a second.</summary>
    internal static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    private long _seq = -1;

    /// <summary>The worker's name in the canary table and in its canaries' names.</summary>
    public string Worker => worker;

    /// <summary>Reads the worker's last <c>seq</c>, so a restarted worker goes on from it (names are never reused).</summary>
    public async Task StartAsync(CancellationToken cancellationToken) =>
        Interlocked.Exchange(ref _seq, await table.LastSeqAsync(worker, cancellationToken).ConfigureAwait(false));

    public async Task<IReadOnlyList<CanaryOutcome>> RunRoundAsync(CancellationToken cancellationToken)
    {
        var seq = Interlocked.Increment(ref _seq);
        var canary = CanaryRule.NameOf(worker, seq);
        // Outlives the deadline (and a round's writes), so a lost canary expires by itself and never a watched one.
        var lifetime = options.Deadline + options.Deadline + TimeSpan.FromSeconds(10);
        var writes = targets.Select(t => (Target: t, Task: t.WriteAsync(canary, lifetime, cancellationToken))).ToList();
        await Task.WhenAll(writes.Select(w => w.Task)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        cancellationToken.ThrowIfCancellationRequested();

        var outcomes = new List<CanaryOutcome>(targets.Count);
        foreach (var (target, write) in writes.Where(w => !w.Task.IsCompletedSuccessfully))
        {
            outcomes.Add(Lost(target.Region, canary, $"the canary could not be written in region {target.Region}: {write.Exception?.InnerException?.Message ?? "cancelled"}"));
        }

        var written = writes.Where(w => w.Task.IsCompletedSuccessfully).Select(w => w.Target).ToList();
        long committed;
        try
        {
            await table.WriteAsync(worker, seq, cancellationToken).ConfigureAwait(false);
            committed = time.GetTimestamp();
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            var reason = $"the canary row could not be written to {table.Table}: {ex.Message}";
            outcomes.AddRange(written.Select(t => Lost(t.Region, canary, reason)));
            return outcomes;
        }

        var watches = written.Select(t => WatchAsync(t, canary, committed, cancellationToken)).ToList();
        outcomes.AddRange(await Task.WhenAll(watches).ConfigureAwait(false));
        return outcomes;
    }

    private async Task<CanaryOutcome> WatchAsync(ICanaryTarget target, string canary, long committed, CancellationToken cancellationToken)
    {
        string? lastError = null;
        while (true)
        {
            try
            {
                if (await target.IsGoneAsync(canary, cancellationToken).ConfigureAwait(false))
                {
                    var freshness = time.GetElapsedTime(committed);
                    if (freshness <= options.Deadline)
                    {
                        var result = freshness <= options.Objective ? CanaryResult.Ok : CanaryResult.Late;
                        events.Publish(new CanaryMeasured(target.Region, canary, result, freshness, time.GetUtcNow(), null));
                        return new CanaryOutcome(target.Region, canary, result, freshness, null);
                    }
                }
            }
            catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
            {
                // The region is down or slow: go on asking until the deadline.
                lastError = ex.Message;
            }

            if (time.GetElapsedTime(committed) >= options.Deadline)
            {
                return Lost(target.Region, canary, LostReason(target.Region, lastError));
            }

            await Task.Delay(PollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    private string LostReason(string region, string? lastError)
    {
        var where = lastError is null ? "" : $" (region {region} answered: {lastError})";
        var path = source == ChangeSourceKind.Kafka
            ? $"check that the Debezium connector's table.include.list has {table.Table} and that its topic is in Invalidator:Kafka:Topics (or TopicPattern)"
            : $"check that {table.Table} is in the publication (Invalidator:Postgres:Publication)";
        return $"not gone {options.Deadline.TotalSeconds:0.###} s after its commit{where}; if no canary of any region is ever deleted, {path}";
    }

    private CanaryOutcome Lost(string region, string canary, string reason)
    {
        Log.CanaryLost(logger, canary, region, reason);
        events.Publish(new CanaryMeasured(region, canary, CanaryResult.Lost, null, time.GetUtcNow(), reason));
        return new CanaryOutcome(region, canary, CanaryResult.Lost, null, reason);
    }
}
