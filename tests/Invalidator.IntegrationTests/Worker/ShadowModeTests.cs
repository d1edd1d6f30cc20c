using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>Shadow mode on real servers: everything is planned and counted, nothing is deleted, positions still move.</summary>
[Collection(ServersCollection.Name)]
public sealed class ShadowModeTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email}"]
          public.orders:
            keys: ["order:{id}"]
            tags: ["customer-orders:{customer_id}"]
        """;

    [Fact]
    public async Task Shadow_mode_deletes_nothing_but_counts_logs_and_shows_what_it_would_delete()
    {
        await using var harness = new WorkerHarness(servers, Rules, "shadow");
        await harness.CreateTopicAsync(partitions: 2);
        harness.Settings["Invalidator:Mode"] = "Shadow";
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        string[] keys = ["customer:1", "customer:email:a@x", "customer:2", "customer:email:b@x", "customer:3", "customer:email:c@x", "order:9"];
        await regions.SetAsync(keys);
        foreach (var db in regions.Regions)
        {
            await db.SetAddAsync(harness.KeyPrefix + "tag:customer-orders:1", "order:9");
        }

        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1, email = "a@x" }), partition: 0);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 2, email = "b@x" }), partition: 1);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 3, email = "c@x" }), partition: 0);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 9, customer_id = 1 }, table: "orders"), partition: 1);

        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "a shadow worker still acknowledges its positions");
        Assert.True(await regions.AllExistAsync([.. keys, "tag:customer-orders:1"]), "shadow mode deletes nothing");

        var samples = PrometheusText.Parse(await http.MetricsAsync());
        double Sample(string name, string table) => samples.Where(s => s.Name == name && s.Has("table", table)).Sum(s => s.Value);
        Assert.Equal(3, Sample("invalidator_shadow_records_total", "public.customers"));
        Assert.Equal(6, Sample("invalidator_shadow_keys_total", "public.customers"));
        Assert.Equal(0, Sample("invalidator_shadow_tags_total", "public.customers"));
        Assert.Equal(1, Sample("invalidator_shadow_records_total", "public.orders"));
        Assert.Equal(1, Sample("invalidator_shadow_tags_total", "public.orders"));
        Assert.Equal(4, samples.Where(s => s.Name == "invalidator_records_total" && s.Has("topic", harness.Topic) && s.Has("outcome", "shadow")).Sum(s => s.Value));
        // /metrics shows every worker host of the test process (one in-process meter name): another test's worker may
        // have the same region names, so this worker's zero is one of the region's series.
        Assert.All(servers.Regions, region => Assert.Contains(samples, s => s.Name == "invalidator_keys_deleted_total" && s.Has("region", region) && s.Value == 0));

        // A sampled log line: one per table per 10 s, the rest counted in the next one.
        Assert.Equal(2, harness.Logs.Count(3010));
        // The example key is redacted (Invalidator:Diagnostics:ShowKeys is off): its template and a short hash.
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 3010 && e.Message.StartsWith("Shadow: public.customers u would delete 2 keys and 0 tags (key customer:{id} #", StringComparison.Ordinal));
        Assert.Equal(1, harness.Logs.Count(3011));

        var (status, body) = await http.GetStatusJsonAsync();
        Assert.Equal(200, status);
        Assert.Equal("shadow", body.GetProperty("mode").GetString());
        var shadow = body.GetProperty("shadow").EnumerateArray().ToDictionary(t => t.GetProperty("table").GetString()!);
        Assert.Equal(3, shadow["public.customers"].GetProperty("records").GetInt64());
        Assert.Equal(6, shadow["public.customers"].GetProperty("keys").GetInt64());
        Assert.Equal($"key order:{{id}} #{Invalidator.Worker.Diagnostics.KeyRedaction.Hash("order:9")}", shadow["public.orders"].GetProperty("lastExample").GetString());
        Assert.Equal(1, shadow["public.orders"].GetProperty("tags").GetInt64());
    }

    [Fact]
    public async Task A_shadow_rule_runs_beside_live_ones_and_deletes_nothing_of_its_own()
    {
        await using var harness = new WorkerHarness(servers, Rules.Replace("    tags: [\"customer-orders:{customer_id}\"]", "    tags: [\"customer-orders:{customer_id}\"]\n    shadow: true", StringComparison.Ordinal), "shadow-rule");
        await harness.CreateTopicAsync(partitions: 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await regions.SetAsync(["customer:1", "customer:email:a@x", "order:9"]);

        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 9, customer_id = 1 }, table: "orders"));
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1, email = "a@x" }));

        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:1", "customer:email:a@x"]), Deadline, "the live rule deletes");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "both records are acknowledged");
        Assert.True(await regions.AllExistAsync(["order:9"]), "the shadow rule's key stays");

        var samples = PrometheusText.Parse(await http.MetricsAsync());
        Assert.Equal(1, samples.Single(s => s.Name == "invalidator_shadow_keys_total" && s.Has("table", "public.orders")).Value);
        Assert.DoesNotContain(samples, s => s.Name == "invalidator_shadow_keys_total" && s.Has("table", "public.customers"));
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 3012 && e.Message.EndsWith(": public.orders", StringComparison.Ordinal));
        var (_, body) = await http.GetStatusJsonAsync();
        Assert.Equal("live", body.GetProperty("mode").GetString());
        Assert.Equal(["public.orders"], body.GetProperty("rules").GetProperty("shadowTables").EnumerateArray().Select(t => t.GetString()));
    }
}
