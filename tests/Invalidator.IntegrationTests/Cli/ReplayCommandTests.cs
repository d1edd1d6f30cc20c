using System.Globalization;
using System.Text.Json;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// <c>replay</c> on a real Kafka-protocol broker and two real Redis servers: records produced with explicit
/// timestamps, the window found by time, exactly its keys deleted, through the regions the worker uses.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class ReplayCommandTests(ServersFixture servers) : IDisposable
{
    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
          public.orders:
            keys: ["order:{id}"]
        """;

    private static readonly TimeSpan Step = TimeSpan.FromMinutes(20);

    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Replay_by_timestamp_deletes_exactly_the_keys_of_the_window_and_touches_no_consumer_group()
    {
        await using var harness = new WorkerHarness(servers, Rules, "replay-window");
        await harness.CreateTopicAsync(partitions: 2);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        // Twelve changes 20 minutes apart, six hours ago to two hours ago, over both partitions.
        var first = Whole(DateTimeOffset.UtcNow.AddHours(-6));
        var ids = Enumerable.Range(1, 12).ToList();
        foreach (var id in ids)
        {
            await ProduceAsync(harness, "customers", id, first + ((id - 1) * Step), partition: id % 2);
        }

        await regions.SetAsync(ids.Select(id => $"customer:{id}"));
        // The window holds the changes of ids 5 to 8: from the 5th change's time up to (not including) the 9th's.
        var since = first + (4 * Step);
        var until = first + (8 * Step);

        var result = await CliFiles.InvokeAsync("replay", "--config", WriteConfig(harness), "--since", Iso(since), "--until", Iso(until));

        Assert.True(result.ExitCode == 0, result.ToString());
        string[] window = ["customer:5", "customer:6", "customer:7", "customer:8"];
        Assert.True(await regions.NoneExistAsync(window), "the window's keys are deleted in both regions");
        Assert.True(await regions.AllExistAsync(ids.Select(id => $"customer:{id}").Except(window)), "keys of changes outside the window stay");
        Assert.Contains("read 4 records in ", result.Output, StringComparison.Ordinal);
        Assert.Contains("4 invalidating", result.Output, StringComparison.Ordinal);
        Assert.Contains("applied 4 keys and 0 tags in 1 batch to east, west", result.Output, StringComparison.Ordinal);
        // Its consumer assigned partitions: the worker's group has no member and no committed offset from it.
        Assert.All((await servers.Kafka.GetCommittedOffsetsAsync(harness.GroupId, harness.Topic)).Values, Assert.Null);
    }

    [Fact]
    public async Task A_duration_reaches_back_from_now_to_the_end_and_a_dry_run_only_counts()
    {
        await using var harness = new WorkerHarness(servers, Rules, "replay-since");
        await harness.CreateTopicAsync(partitions: 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var now = DateTimeOffset.UtcNow;
        var ages = new[] { TimeSpan.FromHours(5), TimeSpan.FromHours(4), TimeSpan.FromMinutes(100), TimeSpan.FromMinutes(50), TimeSpan.FromMinutes(5) };
        for (var i = 0; i < ages.Length; i++)
        {
            await ProduceAsync(harness, "customers", i + 1, now - ages[i], partition: 0);
        }

        var keys = Enumerable.Range(1, ages.Length).Select(id => $"customer:{id}").ToList();
        await regions.SetAsync(keys);
        var config = WriteConfig(harness);

        var dryRun = await CliFiles.InvokeAsync("replay", "--config", config, "--since", "2h", "--dry-run");

        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.Contains("dry run: would apply 3 keys and 0 tags", dryRun.Output, StringComparison.Ordinal);
        Assert.True(await regions.AllExistAsync(keys), "a dry run deletes nothing");

        var replay = await CliFiles.InvokeAsync("replay", "--config", config, "--since", "2h");

        Assert.True(replay.ExitCode == 0, replay.ToString());
        Assert.True(await regions.NoneExistAsync(keys[2..]), "the changes of the last two hours are re-invalidated, up to the end");
        Assert.True(await regions.AllExistAsync(keys[..2]), "older changes are not");
    }

    [Fact]
    public async Task Table_and_region_limit_what_is_replayed()
    {
        await using var harness = new WorkerHarness(servers, Rules, "replay-table");
        await harness.CreateTopicAsync(partitions: 2);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var at = DateTimeOffset.UtcNow.AddMinutes(-30);
        for (var id = 1; id <= 4; id++)
        {
            await ProduceAsync(harness, "customers", id, at, partition: id % 2);
            await ProduceAsync(harness, "orders", id, at, partition: id % 2);
        }

        var orders = Enumerable.Range(1, 4).Select(id => $"order:{id}").ToList();
        var customers = Enumerable.Range(1, 4).Select(id => $"customer:{id}").ToList();
        await regions.SetAsync([.. orders, .. customers]);
        var east = regions.Regions[ServersFixture.East];
        var west = regions.Regions[ServersFixture.West];

        var result = await CliFiles.InvokeAsync("replay", "--config", WriteConfig(harness), "--since", "1h", "--table", "public.orders", "--region", "east");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(await regions.NoneExistAsync(orders, east), "the table's keys are deleted in the region asked for");
        Assert.Empty(await regions.RemainingAsync(customers, east).ContinueWith(t => customers.Except(t.Result).ToList()));
        Assert.Equal(orders, await regions.RemainingAsync(orders, west));
        Assert.Equal(customers, await regions.RemainingAsync(customers, west));
        Assert.Contains("4 invalidating", result.Output, StringComparison.Ordinal);
        Assert.Contains("4 of other tables", result.Output, StringComparison.Ordinal);
        Assert.Contains("to east", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_region_that_cannot_take_its_share_gets_a_region_letter_for_the_redrive_and_exit_1()
    {
        await using var harness = new WorkerHarness(servers, Rules, "replay-down");
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var now = DateTimeOffset.UtcNow;
        for (var id = 1; id <= 3; id++)
        {
            await ProduceAsync(harness, "customers", id, now.AddMinutes(-id), partition: 0);
        }

        var keys = Enumerable.Range(1, 3).Select(id => $"customer:{id}").ToList();
        await regions.SetAsync(keys);
        // A third region whose Redis is not there: after its retries its share goes to the dead-letter topic.
        harness.Settings["Invalidator:Regions:north:Redis"] = "127.0.0.1:1,connectTimeout=200";
        Faults.FaultSettings.ApplyFastResilience(harness.Settings, [.. servers.Regions, "north"]);

        var result = await CliFiles.InvokeAsync("replay", "--config", WriteConfig(harness), "--since", "1h");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.True(await regions.NoneExistAsync(keys), "the regions that answer apply the window");
        Assert.Contains("north took 1 batch(es) only as region letters", result.Output, StringComparison.Ordinal);
        Assert.Equal(1, (await servers.Kafka.GetEndOffsetsAsync(harness.DeadLetterTopic)).Values.Sum());
    }

    [Fact]
    public async Task Stdout_holds_only_the_json_and_the_progress_goes_to_stderr()
    {
        await using var harness = new WorkerHarness(servers, Rules, "replay-json");
        await harness.CreateTopicAsync(partitions: 1);
        var now = DateTimeOffset.UtcNow;
        for (var id = 1; id <= 3; id++)
        {
            await ProduceAsync(harness, "customers", id, now.AddMinutes(-id), partition: 0);
        }

        var settings = harness.ProcessSettings();
        settings["Invalidator:Rules:Path"] = harness.RulesPath;
        ConfigFile.Write(Path.Combine(_files.Directory, "appsettings.json"), settings);

        var result = await _files.RunBinaryAsync("replay", "--since", "1h", "--json");

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        var root = json.RootElement;
        Assert.Equal(3, root.GetProperty("records").GetInt64());
        Assert.Equal(3, root.GetProperty("outcomes").GetProperty("invalidated").GetInt64());
        Assert.Equal(3, root.GetProperty("keys").GetInt64());
        Assert.False(root.GetProperty("dryRun").GetBoolean());
        Assert.Equal([harness.Topic], root.GetProperty("topics").EnumerateArray().Select(t => t.GetString()));
        Assert.Contains(result.ErrorLines, l => l.StartsWith("Loaded rules from ", StringComparison.Ordinal));
        Assert.Contains(result.ErrorLines, l => l.StartsWith("replay: [", StringComparison.Ordinal) && l.Contains("3 of 3 records", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Direct_mode_says_what_is_possible_and_exits_3()
    {
        var rules = _files.Write("rules.yaml", Rules);
        var config = _files.Write("direct.json", JsonSerializer.Serialize(new
        {
            Invalidator = new
            {
                Source = "Postgres",
                Postgres = new { ConnectionString = "Host=127.0.0.1;Port=1;Database=app;Username=invalidator" },
                Rules = new { Path = rules },
                Regions = new { east = new { Redis = servers.RedisConnectionString("east") } },
            },
        }));

        var result = await CliFiles.InvokeAsync("replay", "--config", config, "--since", "2h");

        Assert.True(result.ExitCode == 3, result.ToString());
        Assert.Equal("", result.Output);
        Assert.Contains("a logical replication slot only moves forward", result.Error, StringComparison.Ordinal);
        Assert.Contains("public.invalidator_dead_letters", result.Error, StringComparison.Ordinal);
        Assert.Contains("invalidator dlq replay", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--since", "yesterday", "--since must be an ISO 8601 time")]
    [InlineData("--since", "2099-01-01T00:00:00Z", "is in the future")]
    [InlineData("--until", "3h", "must be later than --since")]
    [InlineData("--table", "public.nothing", "has no rule for that table")]
    [InlineData("--region", "north", "unknown region 'north'")]
    public async Task A_bad_argument_exits_2_with_the_reason(string option, string value, string reason)
    {
        await using var harness = new WorkerHarness(servers, Rules, "replay-args");
        await harness.CreateTopicAsync(partitions: 1);
        string[] args = option == "--since"
            ? ["replay", "--config", WriteConfig(harness), option, value]
            : ["replay", "--config", WriteConfig(harness), "--since", "2h", option, value];

        var result = await CliFiles.InvokeAsync(args);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("", result.Output);
        Assert.Contains(reason, result.Error, StringComparison.Ordinal);
    }

    private string WriteConfig(WorkerHarness harness)
    {
        var settings = harness.ProcessSettings();
        settings["Invalidator:Rules:Path"] = harness.RulesPath;
        var path = Path.Combine(_files.Directory, $"{Guid.NewGuid():N}.json");
        ConfigFile.Write(path, settings);
        return path;
    }

    private Task ProduceAsync(WorkerHarness harness, string table, int id, DateTimeOffset at, int partition) =>
        servers.Kafka.ProduceAtAsync(harness.Topic, partition, $$"""{"id":{{id}}}""", Debezium.Envelope("u", new { id }, new { id, v = 2 }, table: table), at);

    private static DateTimeOffset Whole(DateTimeOffset time) => new(time.Year, time.Month, time.Day, time.Hour, time.Minute, time.Second, TimeSpan.Zero);

    private static string Iso(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);
}
