using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using System.Text.Json;
using Invalidator.Worker.Processing;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion.Serialization;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace Invalidator.IntegrationTests.Targets;

/// <summary>
/// Target FusionCache on real Redis with the real library: two application nodes, each with its own L1, over one
/// Redis (L2 and backplane); the worker (Kafka mode, through the mock broker) invalidates region east as FusionCache
/// and region west as plain Redis keys.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class FusionCacheTargetTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
            tags: ["tenant:{tenant_id}"]
        """;

    private static object Customer(int id, int tenant) => new { id, email = $"c{id}@example.com", name = "N", tenant_id = tenant };

    private string EastRedis => servers.RedisConnectionString("east");

    [Fact]
    public async Task A_changed_row_removes_its_entry_from_both_pods_L1_and_from_L2()
    {
        var setup = FusionCacheSetup.Unique("fc-key");
        await using var podA = await FusionCachePod.StartAsync(EastRedis, setup);
        await using var podB = await FusionCachePod.StartAsync(EastRedis, setup);
        await podA.ReadAsync("customer:7", "Ada v1");
        await podA.ReadAsync("customer:8", "Bob v1");
        Assert.Equal("Ada v1", await podB.ReadAsync("customer:7", "(not loaded: L2 has it)"));
        Assert.Equal("Bob v1", await podB.ReadAsync("customer:8", "(not loaded: L2 has it)"));
        Assert.Equal("Ada v1", await podA.InMemoryAsync("customer:7"));
        Assert.Equal("Ada v1", await podB.InMemoryAsync("customer:7"));
        await using var redis = await servers.Redis.ConnectAsync(servers.RegionIndex("east"));
        Assert.Equal(2, await L2KeysAsync(redis, setup));

        await using var harness = Worker(setup);

        await harness.CreateTopicAsync();
        await harness.StartAsync();
        await harness.ProduceAsync(Debezium.Envelope("u", Customer(7, 1), Customer(7, 1)));

        await Eventually.AssertAsync(
            async () => await podA.InMemoryAsync("customer:7") is null && await podB.InMemoryAsync("customer:7") is null,
            Deadline,
            "the backplane's remove message drops customer:7 from both pods' L1");
        Assert.Equal(1, await L2KeysAsync(redis, setup));
        await using var freshPod = await FusionCachePod.StartAsync(EastRedis, setup);
        Assert.Null(await freshPod.CachedAsync("customer:7"));
        Assert.Equal("Ada v2", await podA.ReadAsync("customer:7", "Ada v2"));

        // Only the changed row: customer 8 stays cached in both L1s and in L2.
        Assert.Equal("Bob v1", await podA.InMemoryAsync("customer:8"));
        Assert.Equal("Bob v1", await podB.InMemoryAsync("customer:8"));
        Assert.Equal("Bob v1", await freshPod.CachedAsync("customer:8"));
        Assert.Contains(harness.Logs.Entries, e => e.EventId == 2100 && e.Message.Contains($"FusionCache '{setup.CacheName}'", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_tag_expires_every_entry_with_it_in_both_pods()
    {
        var setup = FusionCacheSetup.Unique("fc-tag");
        await using var podA = await FusionCachePod.StartAsync(EastRedis, setup);
        await using var podB = await FusionCachePod.StartAsync(EastRedis, setup);
        await podA.ReadAsync("report:5:a", "report a", "tenant:5");
        await podB.ReadAsync("report:5:b", "report b", "tenant:5");
        await podA.ReadAsync("report:6:a", "report of tenant 6", "tenant:6");
        foreach (var pod in new[] { podA, podB })
        {
            Assert.Equal("report a", await pod.CachedAsync("report:5:a"));
            Assert.Equal("report b", await pod.CachedAsync("report:5:b"));
            Assert.Equal("report of tenant 6", await pod.CachedAsync("report:6:a"));
        }

        await using var harness = Worker(setup);

        await harness.CreateTopicAsync();
        await harness.StartAsync();
        await harness.ProduceAsync(Debezium.Envelope("c", null, Customer(1, 5)));

        await Eventually.AssertAsync(
            async () => await AllMissAsync([podA, podB], ["report:5:a", "report:5:b"]),
            Deadline,
            "remove-by-tag tenant:5 expires both entries in both pods");
        foreach (var pod in new[] { podA, podB })
        {
            Assert.Equal("report of tenant 6", await pod.CachedAsync("report:6:a"));
        }
    }

    [Fact]
    public async Task A_pod_that_starts_after_a_tag_invalidation_reads_the_tag_from_L2_and_misses()
    {
        var setup = FusionCacheSetup.Unique("fc-l2tag");
        var served = await ServedAfterTagInvalidationByAPodStartedLaterAsync(setup, () => new FusionCacheSystemTextJsonSerializer());

        Assert.Null(served);
    }

    [Fact]
    public async Task With_a_serializer_other_than_the_applications_a_pod_that_reads_the_tag_from_L2_serves_the_stale_entry()
    {
        // The applications write JSON with snake_case names: their System.Text.Json options differ from the worker's
        // (FusionCache's System.Text.Json serializer with the defaults: Serializer=SystemTextJson).
        var setup = FusionCacheSetup.Unique("fc-ser");
        var served = await ServedAfterTagInvalidationByAPodStartedLaterAsync(
            setup, () => new FusionCacheSystemTextJsonSerializer(new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower }));

        // The worker wrote the tag's expiration entry in its serializer's format, which the pod's cannot read: the pod
        // takes the tag as never invalidated and serves the value cached before the change.
        Assert.Equal("report a", served);
    }

    /// <summary>
    /// A pod caches a tagged entry and goes away (a deploy); the worker invalidates the tag; a pod started afterwards
    /// reads the entry from L2 and checks the tag's expiration there (no subscribed node expired the entry first, and
    /// it missed the backplane message). Returns what that pod serves.
    /// </summary>
    private async Task<string?> ServedAfterTagInvalidationByAPodStartedLaterAsync(FusionCacheSetup setup, Func<IFusionCacheSerializer> serializer)
    {
        await using (var before = await FusionCachePod.StartAsync(EastRedis, setup, serializer()))
        {
            await before.ReadAsync("report:5:a", "report a", "tenant:5");
        }

        await using var harness = Worker(setup);

        var applied = new AppliedRecords();
        await harness.CreateTopicAsync();
        await harness.StartAsync(applied);
        await harness.ProduceAsync(Debezium.Envelope("c", null, Customer(1, 5)));
        await Eventually.AssertAsync(() => applied.Count >= 1, Deadline, "the worker applied the change in every region");

        await using var after = await FusionCachePod.StartAsync(EastRedis, setup, serializer());
        return await after.CachedAsync("report:5:a");
    }

    /// <summary>A worker whose region east is the FusionCache of <paramref name="setup"/> (west stays plain Redis).</summary>
    private WorkerHarness Worker(FusionCacheSetup setup)
    {
        var harness = new WorkerHarness(servers, Rules, setup.CacheName);
        foreach (var (key, value) in setup.RegionSettings("east"))
        {
            harness.Settings[key] = value;
        }

        return harness;
    }

    private static async Task<bool> AllMissAsync(FusionCachePod[] pods, string[] keys)
    {
        foreach (var pod in pods)
        {
            foreach (var key in keys)
            {
                if (await pod.CachedAsync(key) is not null)
                {
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary>The L2 entries of the setup's application keys (the Redis cache's hashes under its InstanceName).</summary>
    private static async Task<int> L2KeysAsync(IConnectionMultiplexer redis, FusionCacheSetup setup)
    {
        var count = 0;
        foreach (var server in redis.GetServers())
        {
            await foreach (var key in server.KeysAsync(pattern: $"{setup.InstanceName}*customer:*"))
            {
                _ = key;
                count++;
            }
        }

        return count;
    }

    /// <summary>Counts the records the worker applied in every region.</summary>
    private sealed class AppliedRecords : IBatchListener
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        public void OnApplied(SourceBatch batch) => Interlocked.Add(ref _count, batch.RecordCount);
    }
}
