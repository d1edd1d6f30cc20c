using Invalidator.Core.Planning;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;

namespace Invalidator.Worker.Cli;

/// <summary>What <c>dlq replay</c> did.</summary>
internal sealed record ReapplyReport(
    int Read,
    int Poison,
    int Matched,
    int Replanned,
    int StillPoison,
    int RegionLetters,
    int Keys,
    int Tags,
    IReadOnlyList<string> Regions,
    bool DryRun,
    IReadOnlyList<string> Failures,
    int RegionPoison = 0)
{
    public override string ToString()
    {
        var verb = DryRun ? "would apply" : "applied";
        return $"read {Read} dead letters: {Poison} poison, {Matched} matching; {Replanned} re-planned, {StillPoison} still undecodable; " +
            $"{verb} {Keys} keys and {Tags} tags to {string.Join(", ", Regions)}; {RegionLetters} region letters left to the redrive" +
            (RegionPoison > 0 ? $"; {verb} {RegionPoison} region poison letters (names a region's server refused) to their regions" : "") +
            (Failures.Count > 0 ? $"; FAILED in {string.Join(", ", Failures)}" : "");
    }
}

/// <summary>
/// <c>dlq replay</c>, for either store: re-plans every poison record (whose reason contains <c>--reason</c>) with the
/// current rules (after a rules fix) and applies the result. A region's poison letter (names its server refused, such as
/// a tag set that was a string, or a quarantined region letter) is re-applied to its own region as it is; a name
/// refused again is a failure. It marks nothing, so it can be run again at will: repeated deletes are harmless. Region
/// letters are counted and left to the redrive.
/// </summary>
internal sealed class DeadLetterReapply(IDeadLetterReader letters, RecordIntake planner, RegionSet regions, int maxRecordBytes)
{
    public async Task<ReapplyReport> RunAsync(string? region, string? reason, bool dryRun, TextWriter log, CancellationToken cancellationToken)
    {
        var targets = region is null ? regions.Regions : [regions.Find(region) ?? throw new ArgumentException(
            $"Unknown region '{region}'; configured: {string.Join(", ", regions.Regions.Select(r => r.Name))}", nameof(region))];
        var batch = new InvalidationBatch();
        int read = 0, poison = 0, matched = 0, replanned = 0, stillPoison = 0, regionLetters = 0, regionPoison = 0;
        var regionNames = new Dictionary<RegionInvalidator, (HashSet<string> Keys, HashSet<string> Tags)>();
        await foreach (var letter in letters.ReadAllAsync(cancellationToken).ConfigureAwait(false))
        {
            read++;
            if (letter.Kind == DeadLetterKinds.Region)
            {
                regionLetters++;
                continue;
            }

            if (letter.Kind != DeadLetterKinds.Poison)
            {
                continue;
            }

            poison++;
            if (reason is not null && !letter.Reason.Contains(reason, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            matched++;
            if (letter.Poison is RegionNamesContent names)
            {
                // Its region's names, as they were: nothing to re-plan. Left out when --region names another region.
                if (targets.FirstOrDefault(t => string.Equals(t.Name, names.Letter.Region, StringComparison.OrdinalIgnoreCase)) is { } target)
                {
                    if (!regionNames.TryGetValue(target, out var set))
                    {
                        regionNames[target] = set = (new HashSet<string>(StringComparer.Ordinal), new HashSet<string>(StringComparer.Ordinal));
                    }

                    set.Keys.UnionWith(names.Letter.Keys);
                    set.Tags.UnionWith(names.Letter.Tags);
                    regionPoison++;
                }

                continue;
            }

            var planned = letter.Poison switch
            {
                RawRecordContent raw => planner.Add(raw.Topic, raw.Key, raw.Value, batch, maxRecordBytes),
                ChangeContent change => planner.Add(letter.Source, change.Change, batch),
                _ => (PlannedRecord?)null,
            };
            if (planned is not { IsPoison: false })
            {
                stillPoison++;
                await log.WriteLineAsync($"still poison: {letter.Where}: {planned?.PoisonReason ?? "unreadable letter"}").ConfigureAwait(false);
            }
            else
            {
                replanned++;
            }
        }

        planner.PublishCounts();
        var failures = new List<string>();
        if (!dryRun)
        {
            var result = await regions.ApplyAsync(batch, cancellationToken, targets).ConfigureAwait(false);
            foreach (var failure in result.Failures)
            {
                failures.Add($"{failure.Region} ({failure.InnerException?.Message})");
            }

            foreach (var refusals in result.Refused)
            {
                failures.Add(Refused(refusals.Region, refusals.Names));
            }

            foreach (var (target, (keys, tags)) in regionNames)
            {
                try
                {
                    var applied = await target.ApplyAsync(keys, tags, cancellationToken).ConfigureAwait(false);
                    if (applied.RefusedNames.Count > 0)
                    {
                        failures.Add(Refused(target.Name, applied.RefusedNames));
                    }
                }
                catch (RegionApplyException ex)
                {
                    failures.Add($"{ex.Region} ({ex.InnerException?.Message})");
                }
            }
        }

        return new ReapplyReport(read, poison, matched, replanned, stillPoison, regionLetters,
            batch.Keys.Count + regionNames.Values.Sum(n => n.Keys.Count), batch.Tags.Count + regionNames.Values.Sum(n => n.Tags.Count),
            targets.Select(t => t.Name).ToList(), dryRun, failures, regionPoison);
    }

    private static string Refused(string region, IReadOnlyList<RefusedName> names) =>
        $"{region} (its server still refuses {names.Count} name(s): {string.Join("; ", names.Take(5).Select(n => $"{(n.IsTag ? "tag" : "key")} {n.Name}: {n.Error}"))})";
}
