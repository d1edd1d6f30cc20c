using System.Text.Json;
using Invalidator.TestData;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// <c>explain</c> on every record of the project's record shapes (TestData/RecordShapes) with their rules file: the
/// command decodes with the rules' hints exactly as the worker does, and prints what each record invalidates and why
/// a template did not render.
/// </summary>
public sealed class ExplainRecordShapesTests
{
    public static TheoryData<string> Names() => [.. RecordShapes.Names()];

    [Theory]
    [MemberData(nameof(Names))]
    public async Task Explain_prints_what_the_record_invalidates(string name)
    {
        var shape = RecordShapes.Load(name);
        var expect = shape.Expect;

        var result = await CliFiles.InvokeAsync("explain", "--rules", RecordShapes.RulesPath, "--record", shape.Path);

        if (expect.Kind == "Poison")
        {
            Assert.Equal(1, result.ExitCode);
            Assert.Equal("", result.Output);
            Assert.Contains(expect.Reason!, Assert.Single(result.ErrorLines), StringComparison.Ordinal);
            return;
        }

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Empty(result.Error);
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal(expect.Kind, root.GetProperty("kind").GetString());
        Assert.Equal(expect.Table, root.TryGetProperty("table", out var table) ? table.GetString() : null);
        Assert.Equal(expect.Op, root.TryGetProperty("op", out var op) ? op.GetString() : null);
        Assert.Equal(expect.Keys.Order(StringComparer.Ordinal), Strings(root, "keys"));
        Assert.Equal(expect.Tags.Order(StringComparer.Ordinal), Strings(root, "tags"));
        var unresolved = root.GetProperty("unresolved").EnumerateArray().ToList();
        Assert.Equal(
            expect.Unresolved.Select(u => (u.Template, u.Image, u.Failure)).Order(),
            unresolved.Select(u => (u.GetProperty("template").GetString()!, u.GetProperty("image").GetString()!, u.GetProperty("failure").GetString()!)).Order());
        Assert.All(unresolved, u => Assert.Contains(expect.Reason ?? "", u.GetProperty("reason").GetString()!, StringComparison.Ordinal));
    }

    private static string[] Strings(JsonElement root, string property) =>
        [.. root.GetProperty(property).EnumerateArray().Select(e => e.GetString()!)];
}
