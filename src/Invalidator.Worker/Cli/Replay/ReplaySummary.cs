using System.Globalization;
using System.Text;
using System.Text.Json;
using Invalidator.Worker.Processing;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>What a replay did: the window and what it covered, records by outcome, what was applied where.</summary>
internal sealed class ReplaySummary
{
    public required ReplayWindow Window { get; init; }

    public required IReadOnlyList<string> Topics { get; init; }

    public required int Partitions { get; init; }

    public string? Table { get; init; }

    public required IReadOnlyList<string> Regions { get; init; }

    public required bool DryRun { get; init; }

    public required string RulesVersion { get; init; }

    /// <summary>Per partition, the offsets replayed: from (inclusive) to (exclusive).</summary>
    public required IReadOnlyList<(string Partition, long From, long To)> Ranges { get; init; }

    public Dictionary<RecordOutcome, long> Outcomes { get; } = [];

    public long Records { get; set; }

    public long Keys { get; set; }

    public long Tags { get; set; }

    public int Batches { get; set; }

    /// <summary>Region letters written for the worker's redrive, by region: that region did not take its share now.</summary>
    public IReadOnlyDictionary<string, int> RegionLetters { get; set; } = new Dictionary<string, int>();

    public double Seconds { get; set; }

    private string BatchCount => Batches == 1 ? "1 batch" : FormattableString.Invariant($"{Batches} batches");

    public long Count(params RecordOutcome[] outcomes) => outcomes.Sum(o => Outcomes.GetValueOrDefault(o));

    public void Counted(RecordOutcome outcome)
    {
        Records++;
        Outcomes[outcome] = Outcomes.GetValueOrDefault(outcome) + 1;
    }

    public string ToText()
    {
        var text = new StringBuilder();
        var regions = string.Join(", ", Regions);
        text.Append(CultureInfo.InvariantCulture, $"replay of {Window}: {string.Join(", ", Topics)} ({Partitions} partitions)");
        text.Append(Table is null ? "" : $", table {Table}").Append(CultureInfo.InvariantCulture, $", rules version {RulesVersion}\n");
        // Every kind that occurred; "invalidating" always.
        var kinds = new List<string> { FormattableString.Invariant($"{Count(RecordOutcome.Invalidated, RecordOutcome.Tombstone)} invalidating") };
        void Kind(long count, string what)
        {
            if (count > 0)
            {
                kinds.Add(FormattableString.Invariant($"{count} {what}"));
            }
        }

        Kind(Count(RecordOutcome.Unchanged, RecordOutcome.Ignored), "unchanged or ignored");
        Kind(Count(RecordOutcome.NoRule), Table is null ? "without a rule" : "of other tables");
        Kind(Count(RecordOutcome.Heartbeat, RecordOutcome.Transaction, RecordOutcome.SchemaChange), "heartbeats and metadata");
        Kind(Count(RecordOutcome.Shadow), "in shadow (counted, not deleted)");
        Kind(Count(RecordOutcome.Poison), "undecodable (dead-lettered when the worker read them: see dlq replay)");
        text.Append(CultureInfo.InvariantCulture, $"read {Records} records in {Seconds:0.0} s: {string.Join(", ", kinds)}\n");
        const int shown = 8;
        text.Append("offsets replayed: ").Append(Ranges.Count == 0 ? "none (no record in the window)" : string.Join(", ", Ranges.Take(shown).Select(r => FormattableString.Invariant($"{r.Partition} {r.From}..{r.To - 1}"))))
            .Append(Ranges.Count > shown ? FormattableString.Invariant($" and {Ranges.Count - shown} more partitions") : "").Append('\n');
        var letters = RegionLetters.Values.Sum();
        text.Append(DryRun
            ? FormattableString.Invariant($"dry run: would apply {Keys} keys and {Tags} tags in {BatchCount} to {regions}; nothing deleted")
            : FormattableString.Invariant($"applied {Keys} keys and {Tags} tags in {BatchCount} to {regions}") + (letters == 0
                ? ""
                : $"; {string.Join(", ", RegionLetters.Where(r => r.Value > 0).Select(r => FormattableString.Invariant($"{r.Key} took {r.Value} batch(es) only as region letters")))}: the worker's redrive applies them once the region answers"));
        return text.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(
        new ReplaySummaryJson(
            Window.Since,
            Window.Until,
            Topics,
            Ranges.Select(r => new ReplayRangeJson(r.Partition, r.From, r.To)).ToList(),
            Table,
            Regions,
            DryRun,
            RulesVersion,
            Records,
            Outcomes.OrderBy(o => o.Key).ToDictionary(o => o.Key.ToLabel(), o => o.Value),
            Keys,
            Tags,
            Batches,
            RegionLetters.OrderBy(r => r.Key, StringComparer.Ordinal).ToDictionary(r => r.Key, r => r.Value),
            Math.Round(Seconds, 3)),
        ReportJsonContext.Default.ReplaySummaryJson);
}

/// <summary><c>replay --json</c>: the window, what it covered, records by outcome, what was applied where.</summary>
internal sealed record ReplaySummaryJson(
    DateTimeOffset Since,
    DateTimeOffset? Until,
    IReadOnlyList<string> Topics,
    IReadOnlyList<ReplayRangeJson> Ranges,
    string? Table,
    IReadOnlyList<string> Regions,
    bool DryRun,
    string RulesVersion,
    long Records,
    IReadOnlyDictionary<string, long> Outcomes,
    long Keys,
    long Tags,
    int Batches,
    IReadOnlyDictionary<string, int> RegionLetters,
    double Seconds);

/// <summary>A partition's offsets replayed: from (inclusive) to (exclusive).</summary>
internal sealed record ReplayRangeJson(string Partition, long From, long To);
