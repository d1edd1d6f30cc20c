using System.Text.Json;
using Invalidator.Core.Planning;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// <c>dlq replay</c> in direct mode: re-plans the dead-letter table's poison rows with the current rules and
/// applies them. It marks nothing, so it can be run again at will: repeated deletes are harmless.
/// </summary>
internal sealed class PostgresDeadLetterReplay(PostgresDeadLetterStore store, ChangeRecordPlanner planner, RegionSet regions)
{
    private const string SourceName = "postgres";

    public async Task<ReplayReport> RunAsync(string? region, string? reason, bool dryRun, TextWriter log, CancellationToken cancellationToken)
    {
        var targets = region is null ? regions.Regions : [regions.Find(region) ?? throw new ArgumentException(
            $"Unknown region '{region}'; configured: {string.Join(", ", regions.Regions.Select(r => r.Name))}", nameof(region))];
        var rows = await store.ReadAllAsync(cancellationToken).ConfigureAwait(false);
        var batch = new InvalidationBatch();
        int poison = 0, matched = 0, replanned = 0, stillPoison = 0, regionLetters = 0;
        foreach (var (id, kind, rowReason, payload) in rows)
        {
            if (kind == RegionDeadLetter.Kind)
            {
                regionLetters++;
                continue;
            }

            poison++;
            if (reason is not null && !rowReason.Contains(reason, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            matched++;
            PlannedRecord planned;
            try
            {
                planned = planner.Add(SourceName, PostgresDeadLetterStore.ChangeFromJson(payload), batch);
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                stillPoison++;
                await log.WriteLineAsync($"still poison: {store.Table} id {id}: unreadable payload ({ex.Message})").ConfigureAwait(false);
                continue;
            }

            if (planned.IsPoison)
            {
                stillPoison++;
                await log.WriteLineAsync($"still poison: {store.Table} id {id}: {planned.PoisonReason}").ConfigureAwait(false);
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

        return new ReplayReport(rows.Count, poison, matched, replanned, stillPoison, regionLetters, batch.Keys.Count, batch.Tags.Count,
            targets.Select(t => t.Name).ToList(), dryRun, failures);
    }
}
