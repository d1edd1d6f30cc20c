using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Hosting;
using Npgsql;
using NpgsqlTypes;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>The worker end to end in direct mode: SQL on a real PostgreSQL, logical replication, deletes in two real Redis servers.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresInvalidationTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys:
              - "customer:{id}"
              - "customer:email:{email|lower}"
            tags: ["tenant:{tenant_id}"]
            truncate: ["customers:all"]
          public.orders:
            keys: ["order:{id}"]
            truncate: ["orders:recent"]
        """;

    private static string Schema(string publication) => $"""
        CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, name text, tenant_id int);
        ALTER TABLE customers REPLICA IDENTITY FULL;
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int);
        CREATE TABLE audit (id serial PRIMARY KEY, note text);
        CREATE PUBLICATION {publication} FOR TABLE customers, orders;
        """;

    private static Task<PostgresWorkerHarness> CreateHarnessAsync(PostgresFixture fixture, string name) =>
        PostgresWorkerHarness.CreateAsync(fixture, Rules, name, Schema($"pub_{name}"));

    [Fact]
    public async Task Inserts_updates_deletes_and_truncates_through_sql_delete_their_keys_in_both_regions()
    {
        await using var harness = await CreateHarnessAsync(fixture, "crud");
        var regions = await fixture.ConnectRegionsAsync();
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker creates its slot and streams from it");

        await SetAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com", "customer:2", "order:9"]);
        await harness.ExecuteAsync("INSERT INTO customers VALUES (1, 'Ann@Example.com', 'Ann', 3)");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com"]), Deadline,
            "an insert deletes the row's keys (a cache may hold a negative entry)");
        Assert.True(await AllExistAsync(regions, harness.KeyPrefix, ["customer:2", "order:9"]), "keys of other rows stay");

        // An email change: REPLICA IDENTITY FULL sends the old row, so the old email's key goes too.
        await SetAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com", "customer:email:ann@new.example"]);
        await harness.ExecuteAsync("UPDATE customers SET email = 'ann@new.example' WHERE id = 1");
        await Eventually.AssertAsync(
            () => NoneExistAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com", "customer:email:ann@new.example"]),
            Deadline, "an update deletes the id key and the old and new email keys");

        // Default identity: a delete carries the primary key, which is all order:{id} needs.
        await harness.ExecuteAsync("INSERT INTO orders VALUES (9, 1)");
        await SetAsync(regions, harness.KeyPrefix, ["order:9"]);
        await harness.ExecuteAsync("DELETE FROM orders WHERE id = 9");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["order:9"]), Deadline, "a delete deletes the row's key");

        await SetAsync(regions, harness.KeyPrefix, ["customers:all", "orders:recent", "customer:2"]);
        await harness.ExecuteAsync("TRUNCATE customers");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["customers:all"]), Deadline,
            "a truncate deletes the rule's truncate keys");
        Assert.True(await AllExistAsync(regions, harness.KeyPrefix, ["orders:recent", "customer:2"]), "another table's truncate keys and row keys stay");
    }

    internal static async Task SetAsync(IDatabase[] regions, string prefix, IEnumerable<string> keys)
    {
        foreach (var db in regions)
        {
            foreach (var key in keys)
            {
                await db.StringSetAsync(prefix + key, "cached");
            }
        }
    }

    internal static async Task<bool> NoneExistAsync(IDatabase[] regions, string prefix, IEnumerable<string> keys)
    {
        foreach (var db in regions)
        {
            foreach (var key in keys)
            {
                if (await db.KeyExistsAsync(prefix + key))
                {
                    return false;
                }
            }
        }

        return true;
    }

    internal static async Task<bool> AllExistAsync(IDatabase[] regions, string prefix, IEnumerable<string> keys)
    {
        foreach (var db in regions)
        {
            foreach (var key in keys)
            {
                if (!await db.KeyExistsAsync(prefix + key))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
