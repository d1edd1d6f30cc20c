using System.Diagnostics;
using Invalidator.Core.Planning;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging.Abstractions;
using StackExchange.Redis;

namespace Invalidator.Benchmarks;

/// <summary>
/// Deleting keys in real redis-server processes (two, started here, killed by PID at the end): the region
/// invalidator's pipelined multi-key UNLINK against a naive loop of awaited single deletes, one region and two
/// in parallel. Before each timed batch its keys are written (untimed), so every delete removes a real key.
/// </summary>
internal static class RedisBenchmark
{
    private const string Name = "redis delete";
    private const int DefaultKeysPerCommand = 500;

    public static async Task RunAsync(Scale scale, ResultTable table)
    {
        Console.WriteLine("redis: starting two redis-server processes ...");
        await using var east = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        await using var west = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        using var meters = new MeterFactoryScope();
        var options = Microsoft.Extensions.Options.Options.Create(new InvalidatorOptions
        {
            Regions =
            {
                ["east"] = new RegionOptions { Redis = east.ConnectionString },
                ["west"] = new RegionOptions { Redis = west.ConnectionString },
            },
            Batching = { KeysPerCommand = DefaultKeysPerCommand },
        });
        // The worker's own construction path: connections, resilience pipelines, UNLINK, 500 keys per command.
        using var regions = RegionSetFactory.Create(options, meters.Events, NullLoggerFactory.Instance, TimeProvider.System);
        using var eastAdmin = await ConnectionMultiplexer.ConnectAsync(east.ConnectionString).ConfigureAwait(false);
        using var westAdmin = await ConnectionMultiplexer.ConnectAsync(west.ConnectionString).ConfigureAwait(false);
        var eastRegion = regions.Regions.Single(r => r.Name == "east");
        var eastDb = eastRegion.Connection.GetDatabase();
        Console.WriteLine($"redis: servers on ports {east.Port} and {west.Port}");

        // INVALIDATOR_BENCH_REDIS_ONLY=regions: only the RegionInvalidator and RegionSet rows (the worker's delete path).
        var regionsOnly = Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_REDIS_ONLY") == "regions";
        if (!regionsOnly)
        {
            // Baselines on the region's own connection.
            await SequentialAsync(table, eastDb, eastAdmin, scale.RedisSequentialKeys).ConfigureAwait(false);
            await PipelinedSingleKeyAsync(table, eastDb, eastAdmin, 5000, scale.RedisKeysPerCase).ConfigureAwait(false);
        }

        foreach (var batchSize in new[] { 100, 1000, 5000, 20_000 })
        {
            await RegionAsync(table, eastRegion, $"RegionInvalidator, 1 region, {batchSize:N0} keys/batch, {DefaultKeysPerCommand}/UNLINK", batchSize, scale, eastAdmin).ConfigureAwait(false);
        }

        // The cost of leases: every key goes with its lease key, so each UNLINK carries twice the names.
        await RegionAsync(table, eastRegion, $"RegionInvalidator, 1 region, 5,000 keys/batch, leases (key + lease key)", 5000, scale, eastAdmin, leases: true).ConfigureAwait(false);

        var pipeline = Polly.ResiliencePipeline.Empty;
        foreach (var perCommand in new[] { 100, 2000 })
        {
            var region = new RegionInvalidator("east", new RegionOptions { Redis = east.ConnectionString }, eastRegion.Connection, pipeline, meters.Events, perCommand, TimeProvider.System);
            await RegionAsync(table, region, $"RegionInvalidator, 1 region, 20,000 keys/batch, {perCommand}/UNLINK", 20_000, scale, eastAdmin).ConfigureAwait(false);
        }

        foreach (var batchSize in new[] { 1000, 5000, 20_000 })
        {
            await RegionSetAsync(table, regions, batchSize, scale, [eastAdmin, westAdmin]).ConfigureAwait(false);
        }

        if (regionsOnly)
        {
            return;
        }

        await ReplicaWaitAsync(table, east, scale, meters).ConfigureAwait(false);

        // The other targets on the same server, built by the same factory: what an invalidation costs through the
        // library (FusionCache: a DEL of the L2 entry and a PUBLISH per key, a SET of the tag's entry and a PUBLISH per
        // tag; the output cache: a ZSCAN of the tag's set per key or tag, then a PING per attempt).
        var targets = Microsoft.Extensions.Options.Options.Create(new InvalidatorOptions
        {
            Regions =
            {
                ["fusion"] = new RegionOptions { Redis = east.ConnectionString, Target = RegionTarget.FusionCache, FusionCache = new() { CacheName = "bench" } },
                ["output"] = new RegionOptions { Redis = east.ConnectionString, Target = RegionTarget.OutputCache, OutputCache = new() { InstanceName = "bench:" } },
            },
        });
        using var others = RegionSetFactory.Create(targets, meters.Events, NullLoggerFactory.Instance, TimeProvider.System);
        foreach (var region in others.Regions)
        {
            await TargetAsync(table, region, keys: 1000, tags: 0, scale).ConfigureAwait(false);
            await TargetAsync(table, region, keys: 0, tags: 100, scale).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// What <c>WaitReplicas</c> costs per batch: the east server gets a replica of its own (a third redis-server,
    /// <c>--replicaof</c>), and the same batches are applied with <c>WaitReplicas</c> 0 and 1. Before each timed batch
    /// the replica is brought level (untimed <c>WAIT</c>), so the timed WAIT waits for the batch's own deletes only.
    /// </summary>
    private static async Task ReplicaWaitAsync(ResultTable table, RedisServerProcess primary, Scale scale, MeterFactoryScope meters)
    {
        await using var replica = await RedisServerProcess.StartAsync("--replicaof", "127.0.0.1", primary.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)).ConfigureAwait(false);
        using var admin = await ConnectionMultiplexer.ConnectAsync(primary.ConnectionString).ConfigureAwait(false);
        var level = () => admin.GetDatabase().ExecuteAsync("WAIT", 1, 1000);
        while ((long)await level().ConfigureAwait(false) < 1)
        {
            // The replica's first full sync (a diskless sync starts after 5 s); each WAIT blocks up to 1 s.
        }

        foreach (var waitReplicas in new[] { 0, 1 })
        {
            var options = Microsoft.Extensions.Options.Options.Create(new InvalidatorOptions
            {
                Regions = { ["east"] = new RegionOptions { Redis = primary.ConnectionString, WaitReplicas = waitReplicas } },
                Batching = { KeysPerCommand = DefaultKeysPerCommand },
            });
            using var regions = RegionSetFactory.Create(options, meters.Events, NullLoggerFactory.Instance, TimeProvider.System);
            foreach (var batchSize in new[] { 100, 1000, 5000 })
            {
                await RegionAsync(table, regions.Regions[0], $"RegionInvalidator, 1 region with 1 replica, {batchSize:N0} keys/batch, WaitReplicas {waitReplicas}", batchSize, scale, admin, settle: level).ConfigureAwait(false);
            }
        }
    }

    private static async Task TargetAsync(ResultTable table, RegionInvalidator region, int keys, int tags, Scale scale)
    {
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, Keys("target", keys), [.. Enumerable.Range(0, tags).Select(i => $"bench:tenant:{i}")], []));
        var size = keys + tags;
        var rounds = Math.Max(3, scale.RedisKeysPerCase / 10 / size);
        var latencies = new List<double>(rounds);
        await region.ApplyAsync(batch, CancellationToken.None).ConfigureAwait(false); // warm-up
        for (var round = 0; round < rounds; round++)
        {
            var clock = Stopwatch.StartNew();
            await region.ApplyAsync(batch, CancellationToken.None).ConfigureAwait(false);
            latencies.Add(clock.Elapsed.TotalMilliseconds);
        }

        var count = (long)rounds * size;
        var what = keys > 0 ? $"{keys:N0} keys/batch" : $"{tags:N0} tags/batch";
        table.Add(Name, $"{region.Target} target, 1 region, {what}", count / (latencies.Sum() / 1000), keys > 0 ? "keys/s" : "tags/s",
            $"{count:N0} invalidations of absent entries, p50 {Median(latencies):F2} ms/batch");
    }

    private static async Task SequentialAsync(ResultTable table, IDatabase db, ConnectionMultiplexer admin, int count)
    {
        var keys = Keys("seq", count);
        await PopulateAsync(admin, keys).ConfigureAwait(false);
        long found = 0;
        var clock = Stopwatch.StartNew();
        foreach (var key in keys)
        {
            if (await db.KeyDeleteAsync(key).ConfigureAwait(false))
            {
                found++;
            }
        }

        clock.Stop();
        table.Add(Name, "naive loop: await KeyDeleteAsync(key), one at a time", count / clock.Elapsed.TotalSeconds, "keys/s",
            $"{count:N0} keys, {Percent(found, count)} existed");
    }

    private static async Task PipelinedSingleKeyAsync(ResultTable table, IDatabase db, ConnectionMultiplexer admin, int batchSize, int total)
    {
        var keys = Keys("pipe", batchSize);
        long found = 0;
        var elapsed = TimeSpan.Zero;
        for (var done = 0; done < total; done += batchSize)
        {
            await PopulateAsync(admin, keys).ConfigureAwait(false);
            var clock = Stopwatch.StartNew();
            var deletes = keys.Select(k => db.KeyDeleteAsync(k)).ToArray();
            foreach (var delete in deletes)
            {
                found += await delete.ConfigureAwait(false) ? 1 : 0;
            }

            elapsed += clock.Elapsed;
        }

        var count = total / batchSize * batchSize;
        table.Add(Name, $"pipelined single-key KeyDeleteAsync, {batchSize:N0} in flight", count / elapsed.TotalSeconds, "keys/s",
            $"{count:N0} keys, {Percent(found, count)} existed");
    }

    private static async Task RegionAsync(
        ResultTable table, RegionInvalidator region, string @case, int batchSize, Scale scale, ConnectionMultiplexer admin, bool leases = false, Func<Task>? settle = null)
    {
        var keys = Keys("region", batchSize);
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, keys, [], []) { Leases = leases });
        var rounds = Math.Max(3, scale.RedisKeysPerCase / batchSize);
        var latencies = new List<double>(rounds);
        long found = 0;
        long allocated = 0;
        var cpu = TimeSpan.Zero;
        await PopulateAsync(admin, keys).ConfigureAwait(false);
        await region.ApplyAsync(batch, CancellationToken.None).ConfigureAwait(false); // warm-up
        for (var round = 0; round < rounds; round++)
        {
            await PopulateAsync(admin, keys).ConfigureAwait(false);
            if (settle is not null)
            {
                await settle().ConfigureAwait(false);
            }

            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var clock = Stopwatch.StartNew();
            var result = await region.ApplyAsync(batch, CancellationToken.None).ConfigureAwait(false);
            latencies.Add(clock.Elapsed.TotalMilliseconds);
            cpu += Environment.CpuUsage.TotalTime - cpuBefore;
            allocated += GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            found += result.KeysFound;
        }

        var count = (long)rounds * batchSize;
        table.Add(Name, @case, count / (latencies.Sum() / 1000), "keys/s",
            $"{count:N0} keys, {Percent(found, count)} existed, p50 {Median(latencies):F2} ms/batch; {CpuPerKey(cpu, allocated, count)}");
    }

    private static async Task RegionSetAsync(ResultTable table, RegionSet regions, int batchSize, Scale scale, ConnectionMultiplexer[] admins)
    {
        var keys = Keys("set", batchSize);
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, keys, [], []));
        var rounds = Math.Max(3, scale.RedisKeysPerCase / batchSize);
        var latencies = new List<double>(rounds);
        await Task.WhenAll(admins.Select(a => PopulateAsync(a, keys))).ConfigureAwait(false);
        await regions.ApplyAsync(batch, CancellationToken.None).ConfigureAwait(false); // warm-up
        long left = 0;
        long allocated = 0;
        var cpu = TimeSpan.Zero;
        for (var round = 0; round < rounds; round++)
        {
            await Task.WhenAll(admins.Select(a => PopulateAsync(a, keys))).ConfigureAwait(false);
            var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
            var cpuBefore = Environment.CpuUsage.TotalTime;
            var clock = Stopwatch.StartNew();
            await regions.ApplyAsync(batch, CancellationToken.None).ConfigureAwait(false);
            latencies.Add(clock.Elapsed.TotalMilliseconds);
            cpu += Environment.CpuUsage.TotalTime - cpuBefore;
            allocated += GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
            foreach (var admin in admins)
            {
                left += (long)await admin.GetDatabase().ExecuteAsync("DBSIZE").ConfigureAwait(false);
            }
        }

        var count = (long)rounds * batchSize;
        table.Add(Name, $"RegionSet, 2 regions in parallel, {batchSize:N0} keys/batch", count / (latencies.Sum() / 1000), "keys/s per region",
            $"x{regions.Regions.Count} = {ResultTable.Format(count * regions.Regions.Count / (latencies.Sum() / 1000))} deletes/s; " +
            $"p50 {Median(latencies):F2} ms/batch; {(left == 0 ? "all keys gone in both" : $"{left} keys LEFT")}; " +
            CpuPerKey(cpu, allocated, count * regions.Regions.Count));
    }

    /// <summary>
    /// This process's CPU (user + system, all threads: the applying code and the client's socket threads) and bytes allocated
    /// (all threads) over the timed applies only, per key deleted in one region; the redis-servers are processes of their
    /// own. With the load average: on a shared machine the CPU figure moves with it, the bytes do not.
    /// </summary>
    private static string CpuPerKey(TimeSpan cpu, long allocated, long keys) =>
        $"client CPU {cpu.TotalMicroseconds * 1000 / keys:F0} ns/key, {(double)allocated / keys:F0} B allocated/key (load {Drain.PerfReport.LoadAverage()})";

    private static string[] Keys(string kind, int count) =>
        [.. Enumerable.Range(0, count).Select(i => $"bench:{kind}:customer:email:user{i}@example.com")];

    /// <summary>MSET in chunks of 1000, pipelined, on a connection of its own.</summary>
    private static async Task PopulateAsync(ConnectionMultiplexer admin, string[] keys)
    {
        var db = admin.GetDatabase();
        var writes = keys.Chunk(1000)
            .Select(chunk => db.StringSetAsync([.. chunk.Select(k => new KeyValuePair<RedisKey, RedisValue>(k, "{\"cached\":true}"))]))
            .ToArray();
        await Task.WhenAll(writes).ConfigureAwait(false);
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToList();
        return sorted[sorted.Count / 2];
    }

    private static string Percent(long part, long whole) => whole == 0 ? "-" : $"{100.0 * part / whole:F0}%";
}
