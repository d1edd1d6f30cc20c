using System.Text.Json;
using Invalidator.TestData;

namespace Invalidator.IntegrationTests.Cli;

/// <summary><c>explain</c> marks a delete shaped like REPLICA IDENTITY DEFAULT's when the table's rule does not state its identity.</summary>
public sealed class ExplainSuspectDefaultIdentityTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("explain-identity-").FullName;

    [Theory]
    [InlineData("", true)]
    [InlineData("    replicaIdentity: default\n", false)]
    [InlineData("    replicaIdentity: full\n", false)]
    public async Task Explain_says_suspectDefaultIdentity_only_without_the_field(string identityLine, bool suspect)
    {
        var rules = Path.Combine(_directory, "rules.yaml");
        await File.WriteAllTextAsync(rules, "tables:\n  shop.members:\n    keys: [\"member:{member_id}\"]\n    tags: [\"team:{team_id}\"]\n" + identityLine);
        var record = RecordShapes.Load("class9-delete-under-default-identity.json").Path;

        var result = await CliFiles.InvokeAsync("explain", "--rules", rules, "--record", record);

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        Assert.Equal(suspect, json.RootElement.TryGetProperty("suspectDefaultIdentity", out var flag) && flag.GetBoolean());
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
