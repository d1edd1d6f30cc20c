using Invalidator.Worker.Cli;

namespace Invalidator.Worker.Tests.Cli;

/// <summary><c>explain</c>'s JSON is a public contract: the same fields, order, nulls and left-out fields as the hand-written writer's.</summary>
public sealed class ExplainJsonTests : IDisposable
{
    private const string Rules = """
        tables:
          inventory.products:
            keys: ["product:{id}", "product:name:{name|upper}", "product:sku:{sku}"]
            tags: ["product-description:{description}"]
            leases: true
            secondDelete: 800ms
        """;

    private const string Update = """
        {"topic": "shop.inventory.products", "key": null, "value": {
          "before": {"id": 106, "name": "hammer", "description": "16oz \"<b>\""},
          "after": {"id": 106, "name": "hammer", "description": "18oz"},
          "source": {"connector": "postgresql", "name": "shop", "ts_ms": 1596010889629, "db": "postgres", "schema": "inventory", "table": "products"},
          "op": "u", "ts_ms": 1596010889700}}
        """;

    private const string Tombstone = """{"topic": "shop.inventory.products", "key": {"id": 106}, "value": null}""";

    private const string OtherTable = """
        {"topic": "shop.inventory.orders", "key": null, "value": {
          "before": null, "after": {"id": 7}, "source": {"connector": "postgresql", "name": "shop", "schema": "inventory", "table": "orders"}, "op": "c"}}
        """;

    private const string TransactionBegin = """
        {"topic": "shop.transaction", "key": null, "value": {"status": "BEGIN", "id": "571:53195829", "ts_ms": 1486500577125, "event_count": null, "data_collections": null}}
        """;

    private readonly string _directory = Directory.CreateTempSubdirectory("explain-json-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_change_keeps_its_fields_order_and_nulls()
    {
        Assert.Equal(Golden.ExplainUpdate, await ExplainAsync(Update));
    }

    [Fact]
    public async Task A_tombstone_is_a_delete_of_its_key()
    {
        Assert.Equal(Golden.ExplainTombstone, await ExplainAsync(Tombstone));
    }

    [Fact]
    public async Task A_change_of_a_table_without_a_rule_writes_no_second_delete_as_null()
    {
        Assert.Equal(Golden.ExplainOtherTable, await ExplainAsync(OtherTable));
    }

    [Fact]
    public async Task A_record_that_is_no_change_leaves_the_change_fields_out()
    {
        Assert.Equal(Golden.ExplainTransaction, await ExplainAsync(TransactionBegin));
    }

    private async Task<string> ExplainAsync(string record)
    {
        var rules = Path.Combine(_directory, "rules.yaml");
        var path = Path.Combine(_directory, "record.json");
        await File.WriteAllTextAsync(rules, Rules);
        await File.WriteAllTextAsync(path, record);
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await InvalidatorCommandLine.InvokeAsync(["explain", "--rules", rules, "--record", path], output, error);
        Assert.True(exit == 0, error.ToString());
        // The version is a hash of the file: the same text here on every run.
        return output.ToString().ReplaceLineEndings("\n");
    }
}
