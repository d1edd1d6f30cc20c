using System.Text;
using System.Text.Json;

namespace Invalidator.Core.Tests.ChangeEvents;

/// <summary>One message from shared/fixtures/debezium: <c>{source_url, note, topic, key, value}</c>.</summary>
public sealed record DebeziumFixture(string Name, string Topic, byte[] Key, byte[] Value);

/// <summary>
/// Finds shared/fixtures/debezium, which sits beside the repository (CI clones the repo with shared/ next
/// to it), by walking up from the test binaries.
/// </summary>
public static class DebeziumFixtures
{
    private static readonly Lazy<string> LazyDirectory = new(Locate);

    public static string Directory => LazyDirectory.Value;

    public static IReadOnlyList<string> Names() =>
        [.. System.IO.Directory.EnumerateFiles(Directory, "*.json").Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal)];

    /// <summary>The fixture's key and value as the raw record bytes (JSON null means an empty record part).</summary>
    public static DebeziumFixture Load(string name)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Directory, name)));
        var root = document.RootElement;
        return new DebeziumFixture(
            name,
            root.GetProperty("topic").GetString()!,
            Bytes(root.GetProperty("key")),
            Bytes(root.GetProperty("value")));
    }

    // The raw text keeps number spelling and string escapes exactly as the fixture has them.
    private static byte[] Bytes(JsonElement element) =>
        element.ValueKind == JsonValueKind.Null ? [] : Encoding.UTF8.GetBytes(element.GetRawText());

    private static string Locate()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "fixtures", "debezium");
            if (System.IO.Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException(
            $"No shared/fixtures/debezium directory in any parent of {AppContext.BaseDirectory}; " +
            "the shared/ folder must sit beside the repository checkout.");
    }
}
