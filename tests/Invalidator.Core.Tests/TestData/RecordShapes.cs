using System.Text;
using System.Text.Json;

namespace Invalidator.TestData;

/// <summary>What decoding and planning one record of <c>TestData/RecordShapes</c> must give (its <c>expect</c> object).</summary>
/// <param name="Kind">A <c>RecordKind</c> name, or <c>Poison</c> for an undecodable record.</param>
/// <param name="Outcome">The worker's <c>outcome</c> label of <c>invalidator_records_total</c>.</param>
/// <param name="Reason">A fragment of the poison reason, or of every unresolved template's reason.</param>
/// <param name="Kept">Keys that must not be invalidated (a wrong rendering, were it made).</param>
/// <param name="KeptTags">Tags that must not be invalidated.</param>
public sealed record ShapeExpectation(
    string Kind,
    string? Table,
    string? Op,
    string Outcome,
    IReadOnlyList<string> Keys,
    IReadOnlyList<string> Tags,
    IReadOnlyList<ExpectedUnresolved> Unresolved,
    string? Reason,
    IReadOnlyList<string> Kept,
    IReadOnlyList<string> KeptTags);

public sealed record ExpectedUnresolved(string Template, string Image, string Failure);

/// <summary>One record file: the fixtures' shape <c>{topic, key, value}</c> plus a note and what it must give.</summary>
public sealed record RecordShape(string Name, string Path, string Topic, byte[] Key, byte[] Value, ShapeExpectation Expect)
{
    public override string ToString() => Name;
}

/// <summary>
/// The project's own Debezium record shapes (tests/Invalidator.Core.Tests/TestData/RecordShapes, copied beside the
/// test binaries): one file per case of what the decoder meets in the wild, with the rules file they are planned with.
/// Compiled into every test project that drives them (decoder, <c>explain</c>, the worker).
/// </summary>
public static class RecordShapes
{
    public static string Directory => System.IO.Path.Combine(AppContext.BaseDirectory, "TestData", "RecordShapes");

    public static string RulesPath => System.IO.Path.Combine(Directory, "rules.yaml");

    public static IReadOnlyList<string> Names() =>
        [.. System.IO.Directory.EnumerateFiles(Directory, "*.json").Select(p => System.IO.Path.GetFileName(p)).Order(StringComparer.Ordinal)];

    public static IReadOnlyList<RecordShape> All() => [.. Names().Select(Load)];

    public static RecordShape Load(string name)
    {
        var path = System.IO.Path.Combine(Directory, name);
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        var expect = root.GetProperty("expect");
        return new RecordShape(
            name,
            path,
            root.GetProperty("topic").GetString()!,
            Bytes(root.GetProperty("key")),
            Bytes(root.GetProperty("value")),
            new ShapeExpectation(
                expect.GetProperty("kind").GetString()!,
                Text(expect, "table"),
                Text(expect, "op"),
                expect.GetProperty("outcome").GetString()!,
                Strings(expect, "keys"),
                Strings(expect, "tags"),
                expect.TryGetProperty("unresolved", out var unresolved)
                    ? [.. unresolved.EnumerateArray().Select(u => new ExpectedUnresolved(
                        u.GetProperty("template").GetString()!, u.GetProperty("image").GetString()!, u.GetProperty("failure").GetString()!))]
                    : [],
                Text(expect, "reason"),
                Strings(expect, "kept"),
                Strings(expect, "keptTags")));
    }

    // The raw text keeps number spelling and string escapes exactly as the file has them; JSON null is an empty record part.
    private static byte[] Bytes(JsonElement element) =>
        element.ValueKind == JsonValueKind.Null ? [] : Encoding.UTF8.GetBytes(element.GetRawText());

    private static string? Text(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? value.GetString() : null;

    private static string[] Strings(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) ? [.. value.EnumerateArray().Select(v => v.GetString()!)] : [];
}
