using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Writes the names a region's server refused for good as poison letters: one letter per region and server error,
/// its reason the server's error line, naming the source positions it came from. A poison letter is never redriven
/// (a retry cannot change the error); <c>dlq replay</c> re-applies it once the cause is fixed. The redrive quarantines
/// a region letter the same way. Each name counts in <c>invalidator_region_poison_total{region}</c>. The log's example
/// name is shown as <see cref="KeyRedaction"/> says (the letter itself keeps the names, for the replay).
/// </summary>
internal sealed class RegionPoisonWriter(
    IDeadLetterWriter? store, WorkerEvents events, ILogger logger, TimeProvider time, KeyRedaction? redaction = null, LiveRules? rules = null)
{
    /// <summary>Writes the region's refused names; returns once they are durable. Throws when the store failed (the caller retries; a letter written twice is harmless).</summary>
    public async Task WriteAsync(
        RegionRefusals refusals, string reasonPrefix, IReadOnlyList<RegionDeadLetter.SourceRange> sources, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(refusals);
        foreach (var group in refusals.Names.GroupBy(n => n.Error, StringComparer.Ordinal))
        {
            var names = group.ToList();
            var example = Example(names[0].Name, names[0].IsTag);
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

    /// <summary>
    /// Quarantines a region letter the redrive could not apply after its tries: the letter, with the tries and the last
    /// error as its reason, becomes a poison letter. Returns once it is durable; throws when the store failed.
    /// </summary>
    public async Task QuarantineAsync(RegionDeadLetter letter, string where, int tries, string error, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var target = store ?? throw new InvalidOperationException("No dead-letter store to quarantine a letter in");
        var poison = letter with
        {
            Reason = $"quarantined after {tries} redrive tries ({where}): {error}",
            Attempts = letter.Attempts + tries,
            FailedAt = time.GetUtcNow(),
        };
        await target.WriteRegionPoisonAsync(poison, cancellationToken).ConfigureAwait(false);
        Log.RedriveQuarantined(logger, letter.Region, where, letter.Keys.Count, letter.Tags.Count, tries, error, target.Name);
        Counted(poison, letter.Keys.Count + letter.Tags.Count);
    }

    /// <summary>An example name as the redaction shows it, matched against every rule's templates of its kind.</summary>
    private string Example(string name, bool isTag)
    {
        var templates = rules?.Current.Rules.Tables.Values.SelectMany(t => isTag ? t.Tags : t.Keys).ToList() ?? [];
        return (isTag ? "tag " : "key ") + (redaction ?? KeyRedaction.Redacting).Name(name, templates);
    }

    private void Counted(RegionDeadLetter letter, int names) =>
        events.Publish(new DeadLetterWritten(DeadLetterKinds.Poison, letter.Region, $"{letter.Keys.Count} keys, {letter.Tags.Count} tags: {letter.Reason}", names));
}
