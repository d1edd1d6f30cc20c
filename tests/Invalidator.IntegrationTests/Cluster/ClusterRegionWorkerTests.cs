using Invalidator.Client;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Worker;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Cluster;

/// <summary>The whole worker (direct mode) with a region that is a real Redis Cluster, configured by a seed node in its connection string.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ClusterRegionWorkerTests(PostgresFixture fixture, RedisClusterFixture cluster) : IClassFixture<RedisClusterFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private const int Customers = 300;

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:{id}:orders"]
            tags: ["tenant:{tenant_id}"]
            leases: true
        """;

    [Fact]
    public async Task A_cluster_region_gets_every_key_tag_member_and_lease_key_of_a_bulk_update_deleted_across_its_slots()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "cluster_region", $"""
            CREATE TABLE customers (id int PRIMARY KEY, tenant_id int NOT NULL);
            INSERT INTO customers SELECT g, g % 10 FROM generate_series(1, {Customers}) AS g;
            CREATE PUBLICATION pub_cluster_region FOR TABLE customers;
            """);
        // As an operator would write it: the seed nodes in the region's StackExchange.Redis string.
        harness.Settings["Invalidator:Regions:cluster:Redis"] = $"{cluster.Cluster.SeedNode(0)},{cluster.Cluster.SeedNode(1)}";
        harness.Settings["Invalidator:Regions:cluster:KeyPrefix"] = harness.KeyPrefix;
        await using var connection = await cluster.Cluster.ConnectAsync();
        var db = connection.GetDatabase();
        var keys = Enumerable.Range(1, Customers).SelectMany(i => new[] { $"customer:{i}", $"customer:{i}:orders" }).ToList();
        var members = Enumerable.Range(0, 10).ToDictionary(t => $"tenant:{t}", t => Enumerable.Range(0, 20).Select(i => $"profile:{t}:{i}").ToList());
        var names = keys.Concat(members.Values.SelectMany(m => m)).Select(k => harness.KeyPrefix + k).ToList();
        var leases = names.Select(LeaseProtocol.LeaseKey).ToList();
        await Task.WhenAll(names.Concat(leases).Select(n => db.StringSetAsync(n, "cached")));
        await Task.WhenAll(members.Select(m => db.SetAddAsync(harness.KeyPrefix + "tag:" + m.Key, m.Value.Select(v => (RedisValue)v).ToArray())));
        var crossSlotBefore = await cluster.Cluster.CrossSlotErrorsAsync();

        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");
        await harness.ExecuteAsync("UPDATE customers SET tenant_id = tenant_id");

        await Eventually.AssertAsync(
            async () => !(await Task.WhenAll(names.Concat(leases).Select(n => db.KeyExistsAsync(n)))).Any(e => e),
            Deadline,
            $"all {names.Count} keys and tag members and their lease keys are deleted in the cluster");
        Assert.False((await Task.WhenAll(members.Keys.Select(t => db.KeyExistsAsync(harness.KeyPrefix + "tag:" + t)))).Any(e => e), "the emptied tag sets are gone");
        Assert.Equal(crossSlotBefore, await cluster.Cluster.CrossSlotErrorsAsync());
    }
}
