using System.Text.Json;
using Invalidator.Core.ChangeEvents;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// A decoded change as dead-letter JSON, <c>{"table","op","lsn","commitTime","before","after","key"}</c>, each image
/// column to its canonical text (SQL NULL as null). An unavailable (unchanged TOAST) value is left out: like it, a
/// missing column never renders into a key. <c>dlq replay</c> reads it back and plans it with the current rules.
/// </summary>
internal static class ChangeEventJson
{
    public static string Write(ChangeEvent change, string position)
    {
        ArgumentNullException.ThrowIfNull(change);
        var row = new ChangeEventRow(change.Table, change.Operation.ToCode(), position, change.CommitTime, Image(change.Before), Image(change.After), Image(change.Key));
        return JsonSerializer.Serialize(row, DeadLetterJsonContext.Default.ChangeEventRow);
    }

    /// <summary>Reads a change written by <see cref="Write"/>; throws <see cref="JsonException"/> (or a format error) on anything else.</summary>
    public static ChangeEvent Read(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var table = root.GetProperty("table").GetString() ?? throw new JsonException("no table");
        if (!ChangeOperationCodes.TryParse(root.GetProperty("op").GetString(), out var operation))
        {
            throw new JsonException("unknown op");
        }

        DateTimeOffset? commitTime = root.TryGetProperty("commitTime", out var time) && time.ValueKind == JsonValueKind.String ? time.GetDateTimeOffset() : null;
        return new ChangeEvent(table, operation, Image(root, "before"), Image(root, "after"), Image(root, "key"), commitTime);

        static RowImage? Image(JsonElement root, string name)
        {
            if (!root.TryGetProperty(name, out var image) || image.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            return new RowImage(image.EnumerateObject().Select(c => KeyValuePair.Create(
                c.Name, c.Value.ValueKind == JsonValueKind.Null ? ColumnValue.Null : ColumnValue.Of(c.Value.GetString() ?? ""))));
        }
    }

    // An unavailable (or undecodable) value is left out: it never renders into a key either.
    private static Dictionary<string, string?>? Image(RowImage? image) =>
        image?.Columns
            .Where(c => c.Value.Kind is ColumnValueKind.Present or ColumnValueKind.Null)
            .ToDictionary(c => c.Key, c => c.Value.Kind == ColumnValueKind.Present ? c.Value.Text : null);
}
