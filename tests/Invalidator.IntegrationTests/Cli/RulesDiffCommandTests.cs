using System.Text.Json;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Cli;

/// <summary><c>rules diff</c> on record files and on a topic of a real Kafka-protocol broker.</summary>
[Collection(ServersCollection.Name)]
public sealed class RulesDiffCommandTests(ServersFixture servers) : IDisposable
{
    private const string OldRules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email}"]
            tags: ["tenant:{tenant_id}"]
          public.orders:
            keys: ["order:{id}"]
        """;

    // The email key is lower-cased now, the tenant tag is gone, a team tag is new; orders are unchanged.
    private const string NewRules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
            tags: ["team:{team_id}"]
          public.orders:
            keys: ["order:{id}"]
        """;

    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Shows_per_record_the_keys_and_tags_that_appear_or_vanish_then_a_summary_per_table()
    {
        var (oldRules, newRules) = WriteRules();
        var records = Directory.CreateDirectory(Path.Combine(_files.Directory, "records")).FullName;
        WriteRecord(records, "1-customer-mixed-case.json", "public", "customers", new { id = 7, email = "Ann@X.com", tenant_id = 3, team_id = 9 });
        WriteRecord(records, "2-customer-lower-case.json", "public", "customers", new { id = 8, email = "bob@x.com", tenant_id = 3 });
        WriteRecord(records, "3-order.json", "public", "orders", new { id = 1 });
        File.WriteAllText(Path.Combine(records, "notes.txt"), "not a record file: ignored");
        File.WriteAllText(Path.Combine(records, "4-more.jsonl"), string.Join('\n',
            Record("public", "orders", new { id = 2 }),
            "",
            Record("public", "customers", new { id = 9, email = "c@x.com", team_id = 1 })));

        var result = await CliFiles.InvokeAsync("rules", "diff", oldRules, newRules, "--records", records);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("", result.Error);
        var expected = $"""
            rules diff: {oldRules} -> {newRules}, 5 records from {records}

            1-customer-mixed-case.json: public.customers (Invalidate)
              - key customer:email:Ann@X.com
              + key customer:email:ann@x.com
              - tag tenant:3
              + tag team:9

            2-customer-lower-case.json: public.customers (Invalidate)
              - tag tenant:3

            4-more.jsonl:3: public.customers (Invalidate)
              + tag team:1

            summary by table (- vanish, + appear):
              table             records  differing  keys -  keys +  tags -  tags +
              public.customers        3          3       1       1       2       2
              public.orders           2          0       0       0       0       0

            3 of 5 records differ
            """;
        Assert.Equal(expected, result.Output.TrimEnd('\n'));
    }

    [Fact]
    public async Task Json_holds_the_differences_and_the_tables()
    {
        var (oldRules, newRules) = WriteRules();
        var records = _files.Write("records.json", $"[{Record("public", "customers", new { id = 7, email = "Ann@X.com", tenant_id = 3 })}, {Record("public", "orders", new { id = 1 })}]");

        var result = await CliFiles.InvokeAsync("rules", "diff", oldRules, newRules, "--records", records, "--json");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal((2, 1), (root.GetProperty("records").GetInt32(), root.GetProperty("differing").GetInt32()));
        var difference = Assert.Single(root.GetProperty("differences").EnumerateArray());
        Assert.Equal($"{records}#1", difference.GetProperty("record").GetString());
        Assert.Equal("public.customers", difference.GetProperty("table").GetString());
        Assert.Equal(["customer:email:ann@x.com"], Strings(difference.GetProperty("keys").GetProperty("appearing")));
        Assert.Equal(["customer:email:Ann@X.com"], Strings(difference.GetProperty("keys").GetProperty("vanishing")));
        Assert.Equal(["tenant:3"], Strings(difference.GetProperty("tags").GetProperty("vanishing")));
        Assert.Equal("Invalidate", difference.GetProperty("new").GetProperty("outcome").GetString());
        Assert.Equal(["public.customers", "public.orders"], root.GetProperty("tables").EnumerateArray().Select(t => t.GetProperty("table").GetString()));
    }

    [Fact]
    public async Task Exits_0_when_no_record_differs()
    {
        var (oldRules, _) = WriteRules();
        var records = _files.Write("record.json", Record("public", "customers", new { id = 7, email = "Ann@X.com" }));

        var result = await CliFiles.InvokeAsync("rules", "diff", oldRules, oldRules, "--records", records);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.EndsWith("0 of 1 records differ", result.Output.TrimEnd('\n'), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_change_of_decoding_hints_that_dead_letters_records_is_shown()
    {
        var (oldRules, _) = WriteRules();
        var newRules = _files.Write("envelope.yaml", OldRules.Replace("keys: [\"order:{id}\"]", "keys: [\"order:{id}\"]\n    format: envelope", StringComparison.Ordinal));
        // An unwrapped row of orders: a row under 'auto', a malformed envelope under 'format: envelope'.
        var records = _files.Write("row.json", """{"topic": "dbserver1.public.orders", "key": {"id": 1}, "value": {"id": 1, "__op": "u"}}""");

        var result = await CliFiles.InvokeAsync("rules", "diff", oldRules, newRules, "--records", records);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains("  ! now dead-lettered: ", result.Output, StringComparison.Ordinal);
        Assert.Contains("  - key order:1", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Samples_the_newest_records_of_a_topic_on_the_broker()
    {
        var (oldRules, newRules) = WriteRules();
        var topic = ServersFixture.UniqueName("diff");
        await servers.Kafka.CreateTopicAsync(topic, 2);
        // Old records on both partitions would differ; only the newest three per partition are sampled, and of
        // those only partition 1's customer differs.
        await servers.Kafka.ProduceManyAsync(topic,
        [
            .. Enumerable.Range(0, 5).Select(i => (0, (string?)null, (string?)Debezium.Envelope("c", null, new { id = 100 + i, email = "Old@X.com" }))),
            .. Enumerable.Range(0, 3).Select(i => (0, (string?)null, (string?)Debezium.Envelope("c", null, new { id = i }, table: "orders"))),
            (1, null, Debezium.Envelope("c", null, new { id = 200, email = "Old@X.com" })),
            (1, null, Debezium.Envelope("c", null, new { id = 3 }, table: "orders")),
            (1, null, Debezium.Envelope("c", null, new { id = 4 }, table: "orders")),
            (1, null, Debezium.Envelope("u", null, new { id = 7, email = "Ann@X.com" })),
        ]);
        var config = Path.Combine(_files.Directory, "settings.json");
        ConfigFile.Write(config, new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = servers.Kafka.BootstrapServers,
            ["Invalidator:Kafka:GroupId"] = ServersFixture.UniqueName("group"),
        });

        var result = await CliFiles.InvokeAsync("rules", "diff", oldRules, newRules, "--topic", topic, "--sample", "6", "--config", config, "--json");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal((6, 1), (root.GetProperty("records").GetInt32(), root.GetProperty("differing").GetInt32()));
        var difference = Assert.Single(root.GetProperty("differences").EnumerateArray());
        Assert.Equal($"{topic}[1]@3", difference.GetProperty("record").GetString());
        Assert.Equal(["customer:email:ann@x.com"], Strings(difference.GetProperty("keys").GetProperty("appearing")));
        var orders = root.GetProperty("tables").EnumerateArray().Single(t => t.GetProperty("table").GetString() == "public.orders");
        Assert.Equal(5, orders.GetProperty("records").GetInt32());
    }

    [Fact]
    public async Task An_unknown_topic_exits_2_naming_it()
    {
        var (oldRules, newRules) = WriteRules();
        var config = Path.Combine(_files.Directory, "settings.json");
        ConfigFile.Write(config, new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = servers.Kafka.BootstrapServers,
            // The mock broker (like a broker with auto.create.topics.enable) would create a topic it is asked about.
            ["Invalidator:Kafka:Consumer:allow.auto.create.topics"] = "false",
        });
        var topic = ServersFixture.UniqueName("missing");

        var result = await CliFiles.InvokeAsync("rules", "diff", oldRules, newRules, "--topic", topic, "--config", config);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(result.ErrorLines, l => l.StartsWith($"rules diff failed: topic {topic} not found", StringComparison.Ordinal));
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task A_bad_rules_file_exits_2_with_file_line_and_column()
    {
        var (oldRules, _) = WriteRules();
        var bad = _files.Write("bad.yaml", "tables:\n  public.customers:\n    keyz: [\"customer:{id}\"]\n");
        var records = _files.Write("record.json", Record("public", "customers", new { id = 7 }));

        var result = await CliFiles.InvokeAsync("rules", "diff", oldRules, bad, "--records", records);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith($"{bad}:3:5: unknown field 'keyz'", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.Equal("", result.Output);
    }

    [Theory]
    [InlineData(new string[0], "rules diff failed: give either --records <file|dir> or --topic <topic> (with --sample N)")]
    [InlineData(new[] { "--records", "x.json", "--topic", "t" }, "rules diff failed: give either --records")]
    [InlineData(new[] { "--records", "missing.json" }, "rules diff failed: --records: no file or directory at ")]
    [InlineData(new[] { "--records", "broken.json" }, "rules diff failed: broken.json: not JSON")]
    public async Task Bad_record_arguments_exit_2_with_the_reason(string[] arguments, string message)
    {
        var (oldRules, newRules) = WriteRules();
        _files.Write("broken.json", "{\"topic\": ");
        var args = arguments.Select(a => a.EndsWith(".json", StringComparison.Ordinal) ? Path.Combine(_files.Directory, a) : a);

        var result = await CliFiles.InvokeAsync(["rules", "diff", oldRules, newRules, .. args]);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith(message.Replace("broken.json", Path.Combine(_files.Directory, "broken.json"), StringComparison.Ordinal), result.ErrorLines[^1], StringComparison.Ordinal);
    }

    private (string Old, string New) WriteRules() => (_files.Write("old.yaml", OldRules), _files.Write("new.yaml", NewRules));

    private static string Record(string schema, string table, object after) => JsonSerializer.Serialize(new
    {
        topic = $"dbserver1.{schema}.{table}",
        key = (object?)null,
        value = JsonDocument.Parse(Debezium.Envelope("u", null, after, schema, table)).RootElement,
    });

    private static void WriteRecord(string directory, string name, string schema, string table, object after) =>
        File.WriteAllText(Path.Combine(directory, name), Record(schema, table, after));

    private static List<string> Strings(JsonElement array) => array.EnumerateArray().Select(e => e.GetString()!).ToList();
}
