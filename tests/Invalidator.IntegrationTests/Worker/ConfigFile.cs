using System.Text.Json;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>Writes flat configuration ("A:B:C" = value) as the nested JSON file the worker reads.</summary>
public static class ConfigFile
{
    public static void Write(string path, IReadOnlyDictionary<string, string?> settings)
    {
        var root = new Dictionary<string, object?>();
        foreach (var (key, value) in settings)
        {
            var node = root;
            var parts = key.Split(':');
            foreach (var part in parts[..^1])
            {
                // Numeric segments stay object keys: configuration reads them as list indexes.
                if (!node.TryGetValue(part, out var child) || child is not Dictionary<string, object?> next)
                {
                    next = [];
                    node[part] = next;
                }

                node = next;
            }

            node[parts[^1]] = value;
        }

        File.WriteAllText(path, JsonSerializer.Serialize(root));
    }
}
