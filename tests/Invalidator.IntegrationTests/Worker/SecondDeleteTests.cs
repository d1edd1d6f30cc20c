using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Client;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// The delayed second delete on real servers, from Kafka (two real Redis regions): a key and a tag member repopulated
/// after the first delete are deleted again when the delay is up and counted as hits in their region, and the offset is
/// committed only after that.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaSecondDeleteTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // Long enough for the test to repopulate (and look at the committed offset) inside the window on a slow machine.
    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
            tags: ["tenant:{tenant_id}"]
            secondDelete: 4s
        """;

    [Fact]
    public async Task A_key_repopulated_inside_the_window_is_deleted_again_counted_as_a_hit_and_the_offset_waits_for_it()
    {
        await using var harness = new WorkerHarness(servers, Rules, "second");
        await harness.CreateTopicAsync(partitions: 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var east = regions.Regions[ServersFixture.East];
        await regions.SetAsync(["customer:1", "page:1"]);
        foreach (var db in regions.Regions)
        {
            await db.SetAddAsync(harness.KeyPrefix + "tag:tenant:3", "page:1");
        }

        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1, tenant_id = 3 }));
        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:1", "page:1"]), Deadline, "the first delete removes the key and the tag member in both regions");

        // A slow reader in east populates the old row after the delete, registering its page in the tag first.
        await east.SetAddAsync(harness.KeyPrefix + "tag:tenant:3", "page:1");
        await regions.SetAsync(["customer:1", "page:1"], east);
        Assert.Equal(1, await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic));

        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:1", "page:1"], east), Deadline, "the second delete removes them again");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the offset is committed after the second delete");

        var samples = PrometheusText.Parse(await http.MetricsAsync());
        double Value(string name, string region) => Assert.Single(samples, s => s.Name == name && s.Has("region", region)).Value;
        // East found both again (the key, and the member it read from the tag set again); west had nothing to find.
        Assert.Equal(2, Value("invalidator_second_deletes_total", "east"));
        Assert.Equal(2, Value("invalidator_second_delete_hits_total", "east"));
        Assert.Equal(1, Value("invalidator_second_deletes_total", "west"));
        Assert.Equal(0, Value("invalidator_second_delete_hits_total", "west"));
        // The first-delete counters count the first delete only.
        Assert.Equal(2, Value("invalidator_keys_deleted_total", "east"));
        Assert.Equal(2, Value("invalidator_keys_found_total", "east"));

        var (_, status) = await http.GetStatusJsonAsync();
        var eastStatus = status.GetProperty("regions").EnumerateArray().Single(r => r.GetProperty("name").GetString() == "east");
        Assert.Equal(2, eastStatus.GetProperty("secondDeletes").GetInt64());
        Assert.Equal(2, eastStatus.GetProperty("secondDeleteHits").GetInt64());
        Assert.Equal(0, status.GetProperty("secondDeletes").GetProperty("pending").GetInt64());
    }
}

/// <summary>
/// The same path in direct mode (real Postgres, two real Redis regions): the global delay, a table that turns it off,
/// the lease keys of a lease table; and a worker stopped inside the window leaves the change unconfirmed, so the next
/// one streams it again and does both deletes.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresSecondDeleteTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
            leases: true
          public.notes:
            keys: ["note:{id}"]
            secondDelete: 0s
        """;

    private const string Schema = """
        CREATE TABLE customers (id int PRIMARY KEY, name text);
        CREATE TABLE notes (id int PRIMARY KEY, body text);
        INSERT INTO customers VALUES (1, 'a');
        INSERT INTO notes VALUES (1, 'a');
        CREATE PUBLICATION pub_second_pg FOR TABLE customers, notes;
        """;

    [Fact]
    public async Task The_global_delay_deletes_keys_and_lease_keys_again_except_where_a_table_turns_it_off_and_a_stop_before_it_replays_the_change()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "second_pg", Schema);
        harness.Settings["Invalidator:Consistency:SecondDeleteDelay"] = "00:01:00";
        var regions = await fixture.ConnectRegionsAsync();
        // As written in Redis: the region's prefix, and the lease key of the prefixed key.
        var customer = harness.KeyPrefix + "customer:1";
        string[] secondDeleted = [customer, LeaseProtocol.LeaseKey(customer)];
        string[] all = [.. secondDeleted, harness.KeyPrefix + "note:1"];
        await CachedKeys.SetAsync(regions, "", all);
        var first = await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await harness.ExecuteAsync("UPDATE customers SET name = 'b' WHERE id = 1; UPDATE notes SET body = 'b' WHERE id = 1");
        await Eventually.AssertAsync(() => CachedKeys.NoneExistAsync(regions, "", all), Deadline, "the first delete, lease key included");

        // Readers populate again inside the minute's window (one holds a lease); the worker stops before its second delete.
        await CachedKeys.SetAsync(regions, "", all);
        await first.StopAsync();
        Assert.True(await CachedKeys.AllExistAsync(regions, "", all), "nothing deleted them again before the stop");

        // The next worker (a short delay now) streams the change again: the slot was not confirmed past it.
        harness.Settings["Invalidator:Consistency:SecondDeleteDelay"] = "00:00:04";
        await harness.StartAsync();
        await Eventually.AssertAsync(() => CachedKeys.NoneExistAsync(regions, "", all), Deadline, "the replayed change's first delete");
        await CachedKeys.SetAsync(regions, "", all);
        await Eventually.AssertAsync(() => CachedKeys.NoneExistAsync(regions, "", secondDeleted), Deadline,
            "the second delete removes the key and its lease key again in both regions");
        Assert.True(await CachedKeys.AllExistAsync(regions, "", [harness.KeyPrefix + "note:1"]), "'secondDelete: 0s' turns it off for its table");
    }
}
