namespace Invalidator.IntegrationTests.Cli;

/// <summary><c>rules check</c> on the decoding fields <c>decimals</c>, <c>replicaIdentity</c> and <c>format</c>: accepted as spelt, else <c>file:line:column</c>.</summary>
public sealed class RulesCheckDecodingFieldsTests : IDisposable
{
    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task The_fields_spelt_as_documented_pass()
    {
        var path = _files.Write("fields.yaml", """
            tables:
              crm.deals:
                keys: ["deal:{deal_id}:{amount}"]
                decimals: [amount, discount]
                replicaIdentity: default
                format: unwrapped
              crm.notes:
                keys: ["note:{note_id}"]
                replicaIdentity: full
                format: envelope
            """);

        var result = await CliFiles.InvokeAsync("rules", "check", path);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith($"{path}: OK, 2 tables", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_bad_value_is_reported_with_its_position_in_one_run()
    {
        var path = _files.Write("bad-fields.yaml", """
            tables:
              crm.deals:
                keys: ["deal:{deal_id}"]
                decimals: amount
                replicaIdentity: Full
                format: debezium
            """);

        var result = await CliFiles.InvokeAsync("rules", "check", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(4, result.ErrorLines.Count);
        Assert.StartsWith($"{path}:4:15: 'decimals' of table 'crm.deals' must be a list", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:5:22: unknown replicaIdentity 'Full' for table 'crm.deals': did you mean 'full'?", result.ErrorLines[1], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:6:13: unknown format 'debezium' for table 'crm.deals': it must be 'auto', 'envelope' or 'unwrapped'", result.ErrorLines[2], StringComparison.Ordinal);
        Assert.Equal($"3 error(s) in {path}", result.ErrorLines[3]);
    }
}
