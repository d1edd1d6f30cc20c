using System.Globalization;
using System.Text;
using System.Text.Json;
using Invalidator.Core.Planning;

namespace Invalidator.Worker.Cli.Diff;

/// <summary>The differing records of a <c>rules diff</c>, and the summary per table: text, or one JSON object.</summary>
internal sealed class DiffReport(string oldPath, string newPath, string source)
{
    private readonly List<(SourceRecord Record, RecordDifference Difference)> _differences = [];

    public RulesDiffSummary Summary { get; } = new();

    public void Add(SourceRecord record, RecordDifference difference)
    {
        Summary.Add(record.Topic, difference);
        if (difference.Differs)
        {
            _differences.Add((record, difference));
        }
    }

    public string ToText()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"rules diff: {oldPath} -> {newPath}, {Summary.Records} records from {source}\n");
        foreach (var (record, difference) in _differences)
        {
            text.Append(CultureInfo.InvariantCulture, $"\n{record.Label}: {difference.Table ?? record.Topic} ({Outcome(difference)})\n");
            if (difference.PoisonChanged)
            {
                text.Append(difference.New.Poison is { } reason
                    ? $"  ! now dead-lettered: {reason}\n"
                    : $"  ! no longer dead-lettered (was: {difference.Old.Poison})\n");
            }

            Lines(text, "-", "key", difference.KeysVanishing);
            Lines(text, "+", "key", difference.KeysAppearing);
            Lines(text, "-", "tag", difference.TagsVanishing);
            Lines(text, "+", "tag", difference.TagsAppearing);
        }

        var rows = Summary.Tables.Select(t => new[]
        {
            t.Table, Number(t.Records), Number(t.Differing), Number(t.KeysVanishing), Number(t.KeysAppearing), Number(t.TagsVanishing), Number(t.TagsAppearing),
        }).ToList();
        string[] header = ["table", "records", "differing", "keys -", "keys +", "tags -", "tags +"];
        var widths = header.Select((h, i) => rows.Select(r => r[i].Length).Append(h.Length).Max()).ToArray();
        text.Append("\nsummary by table (- vanish, + appear):\n");
        foreach (var row in rows.Prepend(header))
        {
            text.Append("  ").Append(row[0].PadRight(widths[0]));
            for (var i = 1; i < row.Length; i++)
            {
                text.Append("  ").Append(row[i].PadLeft(widths[i]));
            }

            text.Append('\n');
        }

        text.Append(CultureInfo.InvariantCulture, $"\n{Summary.Differing} of {Summary.Records} records differ\n");
        return text.ToString();
    }

    public string ToJson() => JsonSerializer.Serialize(
        new DiffReportJson(
            oldPath,
            newPath,
            source,
            Summary.Records,
            Summary.Differing,
            _differences.Select(d => new DiffRecordJson(
                d.Record.Label,
                d.Record.Topic,
                d.Difference.Table,
                Side(d.Difference.Old),
                Side(d.Difference.New),
                new DiffChangesJson(d.Difference.KeysAppearing, d.Difference.KeysVanishing),
                new DiffChangesJson(d.Difference.TagsAppearing, d.Difference.TagsVanishing))).ToList(),
            Summary.Tables.Select(t => new DiffTableJson(t.Table, t.Records, t.Differing, t.KeysAppearing, t.KeysVanishing, t.TagsAppearing, t.TagsVanishing)).ToList()),
        ReportJsonContext.Default.DiffReportJson);

    private static string Outcome(RecordDifference difference) =>
        difference.Old.Outcome == difference.New.Outcome ? difference.New.Outcome : $"{difference.Old.Outcome} -> {difference.New.Outcome}";

    private static void Lines(StringBuilder text, string sign, string kind, IReadOnlyList<string> names)
    {
        foreach (var name in names)
        {
            text.Append("  ").Append(sign).Append(' ').Append(kind).Append(' ').Append(name).Append('\n');
        }
    }

    private static string Number(int n) => n.ToString(CultureInfo.InvariantCulture);

    private static DiffSideJson Side(RecordInvalidations side) => new(side.Outcome, side.Poison, side.Keys.Count, side.Tags.Count);
}

/// <summary><c>rules diff --json</c>: the differing records, then the summary per table.</summary>
internal sealed record DiffReportJson(
    string Old, string New, string Source, int Records, int Differing, IReadOnlyList<DiffRecordJson> Differences, IReadOnlyList<DiffTableJson> Tables);

/// <summary>One differing record; <see cref="Table"/> is null for a record that is no change of any table.</summary>
internal sealed record DiffRecordJson(string Record, string Topic, string? Table, DiffSideJson Old, DiffSideJson New, DiffChangesJson Keys, DiffChangesJson Tags);

/// <summary>A record under one rules file; <see cref="Poison"/> is why it would be dead-lettered, else null.</summary>
internal sealed record DiffSideJson(string Outcome, string? Poison, int Keys, int Tags);

internal sealed record DiffChangesJson(IReadOnlyList<string> Appearing, IReadOnlyList<string> Vanishing);

internal sealed record DiffTableJson(string Table, int Records, int Differing, int KeysAppearing, int KeysVanishing, int TagsAppearing, int TagsVanishing);
