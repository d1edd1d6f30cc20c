using System.Text;
using System.Text.Json;

namespace Invalidator.Worker.Cli;

/// <summary>One Kafka record to decode, and where it came from (a file and its place in it, or topic[partition]@offset).</summary>
internal sealed record SourceRecord(string Label, string Topic, byte[] Key, byte[] Value);

/// <summary>
/// Record files of the shape <c>{"topic": ..., "key": ..., "value": ...}</c> (like the fixtures; other fields are
/// ignored): a <c>.json</c> file holds one such object or an array of them, a <c>.jsonl</c> / <c>.ndjson</c> file one
/// per line. A directory stands for every such file below it, in path order.
/// </summary>
internal static class RecordFiles
{
    private static readonly string[] Extensions = [".json", ".jsonl", ".ndjson"];

    /// <exception cref="JsonException">A file is not JSON, or not of the record shape (the message names it).</exception>
    public static IEnumerable<SourceRecord> Read(string path)
    {
        if (Directory.Exists(path))
        {
            var files = Directory.EnumerateFiles(path, "*", SearchOption.AllDirectories)
                .Where(f => Extensions.Contains(Path.GetExtension(f), StringComparer.OrdinalIgnoreCase))
                .Order(StringComparer.Ordinal);
            return files.SelectMany(f => ReadFile(f, Path.GetRelativePath(path, f)));
        }

        return ReadFile(path, path);
    }

    /// <summary>The one record of an <c>explain</c> file.</summary>
    public static SourceRecord ReadOne(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        return Record(document.RootElement, path);
    }

    private static IEnumerable<SourceRecord> ReadFile(string path, string label)
    {
        if (Path.GetExtension(path) is var extension && (extension.Equals(".jsonl", StringComparison.OrdinalIgnoreCase) || extension.Equals(".ndjson", StringComparison.OrdinalIgnoreCase)))
        {
            var number = 0;
            foreach (var line in File.ReadLines(path))
            {
                number++;
                if (!string.IsNullOrWhiteSpace(line))
                {
                    yield return Parse(line, $"{label}:{number}");
                }
            }

            yield break;
        }

        using var document = Parse(File.ReadAllBytes(path), label);
        var root = document.RootElement;
        if (root.ValueKind == JsonValueKind.Array)
        {
            var index = 0;
            foreach (var element in root.EnumerateArray())
            {
                yield return Record(element, $"{label}#{++index}");
            }
        }
        else
        {
            yield return Record(root, label);
        }
    }

    private static SourceRecord Parse(string line, string label)
    {
        using var document = Parse(Encoding.UTF8.GetBytes(line), label);
        return Record(document.RootElement, label);
    }

    private static JsonDocument Parse(byte[] json, string label)
    {
        try
        {
            return JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            throw new JsonException($"{label}: not JSON: {ex.Message}", ex);
        }
    }

    private static SourceRecord Record(JsonElement root, string label)
    {
        if (root.ValueKind != JsonValueKind.Object)
        {
            throw new JsonException($"{label}: a record must be an object {{\"topic\", \"key\", \"value\"}}");
        }

        var topic = root.TryGetProperty("topic", out var t) && t.ValueKind == JsonValueKind.String
            ? t.GetString()!
            : throw new JsonException($"{label}: the record has no \"topic\" string");
        return new SourceRecord(label, topic, Bytes(root, "key"), Bytes(root, "value"));
    }

    // A JSON null (or absent) field is a null Kafka key/value: the empty span the decoder reads as "no value".
    private static byte[] Bytes(JsonElement root, string name) =>
        root.TryGetProperty(name, out var element) && element.ValueKind != JsonValueKind.Null
            ? Encoding.UTF8.GetBytes(element.GetRawText())
            : [];
}
