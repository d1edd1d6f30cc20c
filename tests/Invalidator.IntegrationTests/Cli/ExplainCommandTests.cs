using System.Text.Json;

namespace Invalidator.IntegrationTests.Cli;

/// <summary><c>explain --rules F --record R</c> on real Debezium fixtures, in process.</summary>
public sealed class ExplainCommandTests : IDisposable
{
    private const string Rules = """
        tables:
          inventory.products:
            keys: ["product:{id}", "product:name:{name|upper}"]
            tags: ["product-description:{description}"]
          inventory.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}", "customer:bio:{biography}"]
          public.customers:
            keys: ["customer:{id}"]
            truncate: { keys: ["customers:all"], tags: ["customers"] }
        """;

    private readonly CliFiles _files = new();
    private readonly string _rules;

    public ExplainCommandTests() => _rules = _files.Write("rules.yaml", Rules);

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Schemaless_update_with_full_before_prints_the_sorted_distinct_keys_and_tags_of_both_images()
    {
        var result = await ExplainAsync("pg-update-full-before-schemaless.json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = ParseSingleObject(result.Output);
        var root = json.RootElement;
        Assert.Equal("inventory.products", root.GetProperty("table").GetString());
        Assert.Equal("u", root.GetProperty("op").GetString());
        Assert.Equal("Invalidate", root.GetProperty("outcome").GetString());
        // Before and after both render product:name:HAMMER: printed once.
        Assert.Equal(["product:106", "product:name:HAMMER"], Strings(root, "keys"));
        // The description changed: the tag of the old value and of the new one, in ordinal order.
        Assert.Equal(["product-description:16oz carpenter's hammer", "product-description:18oz carpenter hammer"], Strings(root, "tags"));
        Assert.Empty(result.Error);
    }

    [Fact]
    public async Task Record_with_schemas_enabled_gives_the_keys_of_its_payload()
    {
        var result = await ExplainAsync("pg-update-full-before-schema.json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = ParseSingleObject(result.Output);
        Assert.Equal(["product:110", "product:name:JACKET"], Strings(json.RootElement, "keys"));
        Assert.Equal(
            ["product-description:new water resistent white wind breaker", "product-description:water resistent white wind breaker"],
            Strings(json.RootElement, "tags"));
    }

    [Fact]
    public async Task Unavailable_toast_column_is_reported_as_unresolved_and_never_rendered_into_a_key()
    {
        var result = await ExplainAsync("pg-update-toast-unavailable-value.json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = ParseSingleObject(result.Output);
        var root = json.RootElement;
        Assert.Equal(["customer:1004", "customer:email:annek@noanswer.org"], Strings(root, "keys"));
        Assert.Empty(Strings(root, "tags"));
        var unresolved = Assert.Single(root.GetProperty("unresolved").EnumerateArray());
        Assert.Equal("customer:bio:{biography}", unresolved.GetProperty("template").GetString());
        Assert.Equal("biography", unresolved.GetProperty("column").GetString());
        Assert.Equal("after", unresolved.GetProperty("image").GetString());
    }

    [Fact]
    public async Task Truncate_prints_the_rules_static_keys_and_tags()
    {
        var result = await ExplainAsync("pg-truncate-docs.json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = ParseSingleObject(result.Output);
        Assert.Equal("t", json.RootElement.GetProperty("op").GetString());
        Assert.Equal(["customers:all"], Strings(json.RootElement, "keys"));
        Assert.Equal(["customers"], Strings(json.RootElement, "tags"));
    }

    [Fact]
    public async Task Undecodable_record_exits_non_zero_with_the_reason_and_prints_no_json()
    {
        var record = _files.Write("bad-op.json", """
            {"topic": "dbserver1.public.customers", "key": null,
             "value": {"before": null, "after": {"id": 1}, "source": {"schema": "public", "table": "customers"}, "op": "x"}}
            """);

        var result = await CliFiles.InvokeAsync("explain", "--rules", _rules, "--record", record);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("", result.Output);
        var line = Assert.Single(result.ErrorLines);
        Assert.StartsWith("Cannot decode the record: ", line, StringComparison.Ordinal);
        Assert.Contains("unknown op 'x'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Record_value_that_is_not_an_envelope_exits_non_zero_with_the_reason()
    {
        var record = _files.Write("array.json", """{"topic": "dbserver1.public.customers", "key": null, "value": [1, 2]}""");

        var result = await CliFiles.InvokeAsync("explain", "--rules", _rules, "--record", record);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Contains("The value is a JSON array", Assert.Single(result.ErrorLines), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_record_file_exits_non_zero_naming_the_file()
    {
        var missing = Path.Combine(_files.Directory, "no-such-record.json");

        var result = await CliFiles.InvokeAsync("explain", "--rules", _rules, "--record", missing);

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Contains(missing, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Missing_rules_file_exits_non_zero_naming_the_file()
    {
        var missing = Path.Combine(_files.Directory, "no-such-rules.yaml");

        var result = await CliFiles.InvokeAsync("explain", "--rules", missing, "--record", CliFiles.Fixture("pg-create-schemaless.json"));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal("", result.Output);
        var line = Assert.Single(result.ErrorLines);
        Assert.StartsWith($"{missing}:0:0: rules file not found at '{missing}'", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task It_names_the_rules_version_the_worker_would_run_and_whether_the_rule_is_in_shadow()
    {
        var live = await ExplainAsync("pg-update-full-before-schemaless.json");
        var shadowText = Rules.Replace("    tags: [\"product-description:{description}\"]", "    tags: [\"product-description:{description}\"]\n    shadow: true", StringComparison.Ordinal);
        var shadowRules = _files.Write("shadow.yaml", shadowText);
        var shadow = await CliFiles.InvokeAsync("explain", "--rules", shadowRules, "--record", CliFiles.Fixture("pg-update-full-before-schemaless.json"));

        Assert.True(live.ExitCode == 0 && shadow.ExitCode == 0, live + "\n" + shadow);
        using var liveJson = ParseSingleObject(live.Output);
        using var shadowJson = ParseSingleObject(shadow.Output);
        Assert.Equal(Invalidator.Worker.RulesReload.LoadedRules.VersionOf(Rules), liveJson.RootElement.GetProperty("rulesVersion").GetString());
        Assert.Equal(Invalidator.Worker.RulesReload.LoadedRules.VersionOf(shadowText), shadowJson.RootElement.GetProperty("rulesVersion").GetString());
        Assert.False(liveJson.RootElement.GetProperty("shadow").GetBoolean());
        Assert.True(shadowJson.RootElement.GetProperty("shadow").GetBoolean());
        // The keys are those the worker would count in shadow.
        Assert.Equal(Strings(liveJson.RootElement, "keys"), Strings(shadowJson.RootElement, "keys"));
    }

    [Fact]
    public async Task It_says_whether_the_rule_deletes_lease_keys_and_when_its_second_delete_comes()
    {
        var plain = await ExplainAsync("pg-update-full-before-schemaless.json");
        var withBoth = Rules.Replace("    tags: [\"product-description:{description}\"]", "    tags: [\"product-description:{description}\"]\n    leases: true\n    secondDelete: 1500ms", StringComparison.Ordinal);
        var both = await CliFiles.InvokeAsync("explain", "--rules", _files.Write("both.yaml", withBoth), "--record", CliFiles.Fixture("pg-update-full-before-schemaless.json"));

        Assert.True(plain.ExitCode == 0 && both.ExitCode == 0, plain + "\n" + both);
        using var plainJson = ParseSingleObject(plain.Output);
        using var bothJson = ParseSingleObject(both.Output);
        Assert.False(plainJson.RootElement.GetProperty("leases").GetBoolean());
        Assert.Equal(JsonValueKind.Null, plainJson.RootElement.GetProperty("secondDelete").ValueKind);
        Assert.True(bothJson.RootElement.GetProperty("leases").GetBoolean());
        Assert.Equal("1500ms", bothJson.RootElement.GetProperty("secondDelete").GetString());
        Assert.Equal(Strings(plainJson.RootElement, "keys"), Strings(bothJson.RootElement, "keys"));
    }

    private Task<CliResult> ExplainAsync(string fixture) =>
        CliFiles.InvokeAsync("explain", "--rules", _rules, "--record", CliFiles.Fixture(fixture));

    /// <summary>Parses the whole output as one JSON value (trailing content would throw) and checks it is an object.</summary>
    private static JsonDocument ParseSingleObject(string output)
    {
        var document = JsonDocument.Parse(output);
        Assert.Equal(JsonValueKind.Object, document.RootElement.ValueKind);
        return document;
    }

    private static string[] Strings(JsonElement root, string property) =>
        [.. root.GetProperty(property).EnumerateArray().Select(e => e.GetString()!)];
}
