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

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("old", oldPath);
            json.WriteString("new", newPath);
            json.WriteString("source", source);
            json.WriteNumber("records", Summary.Records);
            json.WriteNumber("differing", Summary.Differing);
            json.WriteStartArray("differences");
            foreach (var (record, difference) in _differences)
            {
                json.WriteStartObject();
                json.WriteString("record", record.Label);
                json.WriteString("topic", record.Topic);
                json.WriteString("table", difference.Table);
                Side(json, "old", difference.Old);
                Side(json, "new", difference.New);
                Changes(json, "keys", difference.KeysAppearing, difference.KeysVanishing);
                Changes(json, "tags", difference.TagsAppearing, difference.TagsVanishing);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("tables");
            foreach (var table in Summary.Tables)
            {
                json.WriteStartObject();
                json.WriteString("table", table.Table);
                json.WriteNumber("records", table.Records);
                json.WriteNumber("differing", table.Differing);
                json.WriteNumber("keysAppearing", table.KeysAppearing);
                json.WriteNumber("keysVanishing", table.KeysVanishing);
                json.WriteNumber("tagsAppearing", table.TagsAppearing);
                json.WriteNumber("tagsVanishing", table.TagsVanishing);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

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

    private static void Side(Utf8JsonWriter json, string name, RecordInvalidations side)
    {
        json.WriteStartObject(name);
        json.WriteString("outcome", side.Outcome);
        json.WriteString("poison", side.Poison);
        json.WriteNumber("keys", side.Keys.Count);
        json.WriteNumber("tags", side.Tags.Count);
        json.WriteEndObject();
    }

    private static void Changes(Utf8JsonWriter json, string name, IReadOnlyList<string> appearing, IReadOnlyList<string> vanishing)
    {
        json.WriteStartObject(name);
        json.WriteStartArray("appearing");
        foreach (var value in appearing)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
        json.WriteStartArray("vanishing");
        foreach (var value in vanishing)
        {
            json.WriteStringValue(value);
        }

        json.WriteEndArray();
        json.WriteEndObject();
    }
}
