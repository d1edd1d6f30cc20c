using Invalidator.Core.Planning;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;

namespace Invalidator.Worker.DeadLetters;

/// <summary>What <c>dlq replay</c> did.</summary>
public sealed record ReplayReport(
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
    IReadOnlyList<string> Failures)
{
    public override string ToString()
    {
        var verb = DryRun ? "would apply" : "applied";
        return $"read {Read} dead letters: {Poison} poison, {Matched} matching; {Replanned} re-planned, {StillPoison} still undecodable; " +
            $"{verb} {Keys} keys and {Tags} tags to {string.Join(", ", Regions)}; {RegionLetters} region letters left to the redrive" +
            (Failures.Count > 0 ? $"; FAILED in {string.Join(", ", Failures)}" : "");
    }
}

/// <summary>
/// <c>dlq replay</c>, for either store: re-plans every poison record (whose reason contains <c>--reason</c>) with the
/// current rules (after a rules fix) and applies the result. It marks nothing, so it can be run again at will:
/// repeated deletes are harmless. Region letters are counted and left to the redrive.
/// </summary>
internal sealed class DeadLetterReplay(IDeadLetterStore store, ChangeRecordPlanner planner, RegionSet regions, int maxRecordBytes)
{
    public async Task<ReplayReport> RunAsync(string? region, string? reason, bool dryRun, TextWriter log, CancellationToken cancellationToken)
    {
        var targets = region is null ? regions.Regions : [regions.Find(region) ?? throw new ArgumentException(
            $"Unknown region '{region}'; configured: {string.Join(", ", regions.Regions.Select(r => r.Name))}", nameof(region))];
        var batch = new InvalidationBatch();
        int read = 0, poison = 0, matched = 0, replanned = 0, stillPoison = 0, regionLetters = 0;
        await foreach (var letter in store.ReadAllAsync(cancellationToken).ConfigureAwait(false))
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

        var failures = new List<string>();
        if (!dryRun)
        {
            foreach (var failure in await regions.ApplyAsync(batch, cancellationToken, targets).ConfigureAwait(false))
            {
                failures.Add($"{failure.Region} ({failure.InnerException?.Message})");
            }
        }

        return new ReplayReport(read, poison, matched, replanned, stillPoison, regionLetters, batch.Keys.Count, batch.Tags.Count,
            targets.Select(t => t.Name).ToList(), dryRun, failures);
    }
}
