using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.RulesReload;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>Rules hot reload in a running worker: a rewritten file takes effect, a broken one is refused while invalidation goes on.</summary>
[Collection(ServersCollection.Name)]
public sealed class RulesReloadTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string CustomersOnly = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
        """;

    private const string WithOrders = CustomersOnly + """

          public.orders:
            keys: ["order:{id}"]
        """;

    [Fact]
    public async Task A_rule_added_by_rewriting_the_file_starts_invalidating_without_a_restart()
    {
        await using var harness = new WorkerHarness(servers, CustomersOnly, "reload");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Rules:Debounce"] = "00:00:00.100";
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["order:1", "order:2"]);
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(() => harness.Logs.Count(3006) == 1, Deadline, "the worker watches its rules file");

        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1 }, table: "orders"));
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the first order change is handled");
        Assert.True(await regions.AllExistAsync(["order:1"]), "no rule for orders yet");

        await File.WriteAllTextAsync(harness.RulesPath, WithOrders);
        var version = LoadedRules.VersionOf(WithOrders);
        await Eventually.AssertAsync(async () => (await RulesStatusAsync(http)).GetProperty("version").GetString() == version, Deadline, "the rewritten file is live");

        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 2 }, table: "orders"));
        await Eventually.AssertAsync(() => regions.NoneExistAsync(["order:2"]), Deadline, "the new rule invalidates");
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 3002 && e.Message.Contains($"version {version} is live from the next batch on (2 tables; was version {LoadedRules.VersionOf(CustomersOnly)})", StringComparison.Ordinal));

        var samples = PrometheusText.Parse(await http.MetricsAsync());
        // /metrics shows every worker host of this test process (one in-process meter name): this worker's rules are the
        // series with its version, and other hosts, which never reload, show 0 reloads.
        var info = Assert.Single(samples, s => s.Name == "invalidator_rules_info" && s.Value == 1 && s.Has("version", version));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", info.Labels["loaded_at"]);
        Assert.Equal(1, samples.Where(s => s.Name == "invalidator_rules_reloads_total" && s.Has("result", "applied")).Max(s => s.Value));
        Assert.Equal(0, samples.Where(s => s.Name == "invalidator_rules_reloads_total" && s.Has("result", "rejected")).Max(s => s.Value));
    }

    [Fact]
    public async Task A_broken_file_is_refused_with_its_errors_and_the_old_rules_keep_invalidating()
    {
        await using var harness = new WorkerHarness(servers, CustomersOnly, "reload-bad");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Rules:Debounce"] = "00:00:00.100";
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["customer:1", "customer:2"]);
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(() => harness.Logs.Count(3006) == 1, Deadline, "the worker watches its rules file");
        var live = LoadedRules.VersionOf(CustomersOnly);

        const string Broken = "tables:\n  public.customers:\n    keys: [\"customer:{id\"]\n    shadow: perhaps\n";
        await File.WriteAllTextAsync(harness.RulesPath, Broken);
        await Eventually.AssertAsync(() => harness.Logs.Count(3004) == 1, Deadline, "the broken file is refused");

        var errors = harness.Logs.Entries.Where(e => e.EventId == 3003).Select(e => e.Message).ToList();
        Assert.Equal(2, errors.Count);
        Assert.StartsWith($"{harness.RulesPath}:3:", errors[0], StringComparison.Ordinal);
        Assert.StartsWith($"{harness.RulesPath}:4:13: 'shadow' of table 'public.customers' must be true or false", errors[1], StringComparison.Ordinal);
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 3004 && e.Message.Contains($"version {live}", StringComparison.Ordinal) && e.Message.EndsWith("stays live", StringComparison.Ordinal));

        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1 }));
        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:1"]), Deadline, "the rules running keep invalidating");

        var rules = await RulesStatusAsync(http);
        Assert.Equal(live, rules.GetProperty("version").GetString());
        var reload = rules.GetProperty("lastReload");
        Assert.Equal("rejected", reload.GetProperty("result").GetString());
        Assert.Equal("file changed", reload.GetProperty("trigger").GetString());
        Assert.Equal(errors, reload.GetProperty("errors").EnumerateArray().Select(e => e.GetString()));
        var samples = PrometheusText.Parse(await http.MetricsAsync());
        // Every worker host of the test process is on /metrics (see above): this one's is the only one that reloaded.
        Assert.Equal(1, samples.Where(s => s.Name == "invalidator_rules_reloads_total" && s.Has("result", "rejected")).Max(s => s.Value));
        Assert.Contains(samples, s => s.Name == "invalidator_rules_info" && s.Has("version", live));
        Assert.DoesNotContain(samples, s => s.Name == "invalidator_rules_info" && s.Has("version", LoadedRules.VersionOf(Broken)));

        // Fixed: the next write is taken.
        await File.WriteAllTextAsync(harness.RulesPath, WithOrders);
        await Eventually.AssertAsync(async () => (await RulesStatusAsync(http)).GetProperty("version").GetString() == LoadedRules.VersionOf(WithOrders), Deadline, "the fixed file is live");
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 2 }));
        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:2"]), Deadline, "invalidation goes on under the new version");
    }

    [Fact]
    public async Task A_file_with_100000_errors_is_refused_keeping_the_first_50_and_their_count_in_the_status_and_the_log()
    {
        await using var harness = new WorkerHarness(servers, CustomersOnly, "reload-errors");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Rules:Debounce"] = "00:00:00.100";
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["customer:1"]);
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(() => harness.Logs.Count(3006) == 1, Deadline, "the worker watches its rules file");

        var ops = string.Join(",", Enumerable.Repeat("x", 100_000));
        await File.WriteAllTextAsync(harness.RulesPath, $"tables:\n  public.customers:\n    keys: [\"customer:{{id}}\"]\n    ops: [{ops}]\n");
        await Eventually.AssertAsync(() => harness.Logs.Count(3004) == 1, Deadline, "the file is refused");

        Assert.Equal(50, harness.Logs.Count(3003));
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 8060 && e.Message.StartsWith("... and 99950 more error(s)", StringComparison.Ordinal));
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 3004 && e.Message.Contains("100000 error(s)", StringComparison.Ordinal));
        using var response = await http.GetStatusAsync("/status.json");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(text.Length < 64 * 1024, $"/status.json is {text.Length} chars");
        var reload = (await RulesStatusAsync(http)).GetProperty("lastReload");
        Assert.Equal("rejected", reload.GetProperty("result").GetString());
        Assert.Equal(50, reload.GetProperty("errors").GetArrayLength());
        Assert.Equal(100_000, reload.GetProperty("errorCount").GetInt32());

        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1 }));
        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:1"]), Deadline, "the rules running keep invalidating");
    }

    private static async Task<System.Text.Json.JsonElement> RulesStatusAsync(WorkerHttp http)
    {
        var (status, body) = await http.GetStatusJsonAsync();
        Assert.Equal(200, status);
        return body.GetProperty("rules");
    }
}
