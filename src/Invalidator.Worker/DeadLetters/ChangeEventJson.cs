using System.Text;
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
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("table", change.Table);
            json.WriteString("op", change.Operation.ToCode());
            json.WriteString("lsn", position);
            if (change.CommitTime is { } commitTime)
            {
                json.WriteString("commitTime", commitTime);
            }

            WriteImage(json, "before", change.Before);
            WriteImage(json, "after", change.After);
            WriteImage(json, "key", change.Key);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
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

    private static void WriteImage(Utf8JsonWriter json, string name, RowImage? image)
    {
        if (image is null)
        {
            json.WriteNull(name);
            return;
        }

        json.WriteStartObject(name);
        foreach (var (column, value) in image.Columns)
        {
            switch (value.Kind)
            {
                case ColumnValueKind.Present: json.WriteString(column, value.Text); break;
                case ColumnValueKind.Null: json.WriteNull(column); break;
                default: break;
            }
        }

        json.WriteEndObject();
    }
}
