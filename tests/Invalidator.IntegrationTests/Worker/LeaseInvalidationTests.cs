using Invalidator.Client;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>The worker (direct mode, real Postgres and two real Redis regions) deletes lease keys where the rules or the configuration say so.</summary>
[Collection(PostgresCollection.Name)]
public sealed class LeaseInvalidationTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // "odd:{{{id}" renders odd:{7, a brace that forms no hash tag: such a key has no lease key and is deleted alone.
    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "odd:{{{id}"]
            tags: ["tenant:{tenant_id}"]
            leases: true
          public.orders:
            keys: ["order:{id}"]
            tags: ["orders-of:{customer_id}"]
        """;

    private static string Schema(string name) => $"""
        CREATE TABLE customers (id int PRIMARY KEY, tenant_id int NOT NULL);
        CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL);
        INSERT INTO customers VALUES (7, 3);
        INSERT INTO orders VALUES (9, 7);
        CREATE PUBLICATION pub_{name} FOR TABLE customers, orders;
        """;

    [Fact]
    public async Task A_lease_rule_deletes_its_keys_and_tag_members_with_their_lease_keys_and_other_tables_keep_theirs()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "lease_rule", Schema("lease_rule"));
        var world = await CachedWorld.PopulateAsync(fixture, harness.KeyPrefix);
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await harness.ExecuteAsync("UPDATE customers SET tenant_id = 3 WHERE id = 7; UPDATE orders SET customer_id = 7 WHERE id = 9");

        await Eventually.AssertAsync(() => world.NoneExistAsync(world.OrderKeys), Deadline, "the order's key and tag member are deleted");
        await Eventually.AssertAsync(() => world.NoneExistAsync(world.CustomerKeys.Concat(world.CustomerLeaseKeys)), Deadline,
            "the customer's key, tag member and the lease keys of both are deleted, and odd:{7 without a lease key");
        Assert.True(await world.AllExistAsync(world.OrderLeaseKeys), "a table without leases leaves lease keys alone");
    }

    [Fact]
    public async Task Consistency_leases_deletes_the_lease_keys_of_every_table()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "lease_all", Schema("lease_all"));
        harness.Settings["Invalidator:Consistency:Leases"] = "true";
        var world = await CachedWorld.PopulateAsync(fixture, harness.KeyPrefix);
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await harness.ExecuteAsync("UPDATE orders SET customer_id = 7 WHERE id = 9");

        await Eventually.AssertAsync(() => world.NoneExistAsync(world.OrderKeys.Concat(world.OrderLeaseKeys)), Deadline,
            "the order's keys and lease keys are deleted");
        Assert.True(await world.AllExistAsync(world.CustomerKeys.Concat(world.CustomerLeaseKeys)), "the customer did not change");
    }

    [Fact]
    public async Task A_key_and_its_lease_key_go_in_the_same_unlink_command()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "lease_cmd", Schema("lease_cmd"));
        harness.Settings["Invalidator:Batching:KeysPerCommand"] = "1"; // the tightest limit: a pair still stays together
        await using var monitor = await RedisMonitor.StartAsync(fixture.Redis.ConnectionString(0));
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await harness.ExecuteAsync("UPDATE customers SET tenant_id = 4 WHERE id = 7");

        var key = harness.KeyPrefix + "customer:7";
        await Eventually.AssertAsync(() => monitor.Commands($"\"UNLINK\" \"{key}\"").Count > 0, Deadline, "the worker unlinks the key");
        var unlink = Assert.Single(monitor.Commands($"\"{key}\""), c => c.Contains("\"UNLINK\"", StringComparison.Ordinal));
        Assert.EndsWith($"\"UNLINK\" \"{key}\" \"{LeaseProtocol.LeaseKey(key)}\"", unlink, StringComparison.Ordinal);
        Assert.Single(monitor.Commands($"\"UNLINK\" \"{harness.KeyPrefix}odd:{{7\""));
    }

    /// <summary>Cached values, tag sets and lease keys in both regions, as lease-taking readers would leave them.</summary>
    private sealed class CachedWorld(IDatabase[] regions, string prefix)
    {
        private static readonly string[] CustomerNames = ["customer:7", "odd:{7", "member:1", "tag:tenant:3"];
        private static readonly string[] OrderNames = ["order:9", "order-member:1", "tag:orders-of:7"];
        private static readonly string[] CustomerLeased = ["customer:7", "member:1"];
        private static readonly string[] OrderLeased = ["order:9", "order-member:1"];

        public IEnumerable<string> CustomerKeys => CustomerNames.Select(k => prefix + k);

        public IEnumerable<string> OrderKeys => OrderNames.Select(k => prefix + k);

        public IEnumerable<string> CustomerLeaseKeys => CustomerLeased.Select(k => LeaseProtocol.LeaseKey(prefix + k));

        public IEnumerable<string> OrderLeaseKeys => OrderLeased.Select(k => LeaseProtocol.LeaseKey(prefix + k));

        public static async Task<CachedWorld> PopulateAsync(PostgresFixture fixture, string prefix)
        {
            var world = new CachedWorld(await fixture.ConnectRegionsAsync(), prefix);
            foreach (var db in world._regions)
            {
                foreach (var key in new[] { "customer:7", "odd:{7", "member:1", "order:9", "order-member:1" })
                {
                    await db.StringSetAsync(prefix + key, "cached");
                }

                foreach (var lease in world.CustomerLeaseKeys.Concat(world.OrderLeaseKeys))
                {
                    await db.StringSetAsync(lease, "a reader's token");
                }

                await db.SetAddAsync(prefix + "tag:tenant:3", "member:1");
                await db.SetAddAsync(prefix + "tag:orders-of:7", "order-member:1");
            }

            return world;
        }

        private readonly IDatabase[] _regions = regions;

        public async Task<bool> NoneExistAsync(IEnumerable<string> names)
        {
            var list = names.ToList();
            foreach (var db in _regions)
            {
                if ((await Task.WhenAll(list.Select(n => db.KeyExistsAsync(n)))).Any(e => e))
                {
                    return false;
                }
            }

            return true;
        }

        public async Task<bool> AllExistAsync(IEnumerable<string> names)
        {
            var list = names.ToList();
            foreach (var db in _regions)
            {
                if (!(await Task.WhenAll(list.Select(n => db.KeyExistsAsync(n)))).All(e => e))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
