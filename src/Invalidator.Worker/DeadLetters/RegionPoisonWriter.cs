using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Writes the names a region's server refused for good as poison letters: one letter per region and server error,
/// its reason the server's error line, naming the source positions it came from. A poison letter is never redriven
/// (a retry cannot change the error); <c>dlq replay</c> re-applies it once the cause is fixed. Each name counts in
/// <c>invalidator_region_poison_total{region}</c>.
/// </summary>
internal sealed class RegionPoisonWriter(IDeadLetterStore? store, InvalidatorMetrics metrics, ILogger logger, TimeProvider time, WorkerStatus? status)
{
    /// <summary>Writes the region's refused names; returns once they are durable. Throws when the store failed (the caller retries; a letter written twice is harmless).</summary>
    public async Task WriteAsync(
        RegionRefusals refusals, string reasonPrefix, IReadOnlyList<RegionDeadLetter.SourceRange> sources, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(refusals);
        foreach (var group in refusals.Names.GroupBy(n => n.Error, StringComparer.Ordinal))
        {
            var names = group.ToList();
            var example = (names[0].IsTag ? "tag " : "key ") + names[0].Name;
            if (store is null)
            {
                Log.RegionNamesRefusedUnstored(logger, refusals.Region, names.Count, group.Key, example);
                continue;
            }

            var letter = new RegionDeadLetter(
                refusals.Region,
                names.Where(n => !n.IsTag).Select(n => n.Name).ToList(),
                names.Where(n => n.IsTag).Select(n => n.Name).ToList(),
                reasonPrefix + group.Key,
                1,
                sources,
                time.GetUtcNow());
            await store.WriteRegionPoisonAsync(letter, cancellationToken).ConfigureAwait(false);
            Log.RegionNamesPoisoned(logger, refusals.Region, names.Count, group.Key, example, store.Name);
            Counted(letter, names.Count);
        }
    }

    private void Counted(RegionDeadLetter letter, int names)
    {
        var region = new KeyValuePair<string, object?>("region", letter.Region);
        metrics.RegionPoison.Add(names, region);
        metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", DeadLetterKinds.Poison), region);
        status?.DeadLettered(DeadLetterKinds.Poison, letter.Region, $"{letter.Keys.Count} keys, {letter.Tags.Count} tags: {letter.Reason}");
    }
}
