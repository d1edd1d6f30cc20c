using System.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Microsoft.Extensions.Logging;
using Invalidator.Worker.Options;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>
/// A tag whose set holds a million keys: its members are read with SSCAN in pages and deleted in chunks, so the apply
/// stays far from the attempt timeout and never holds the million names at once. A Redis server of its own (the set and
/// its keys take about 100 MB), and alone in the process, so the managed heap it measures is its own.
/// </summary>
[Collection(HugeTagCollection.Name)]
public sealed class HugeTagTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Members = 1_000_000;

    private RedisServers? _redis;

    private RedisServers Redis => _redis!;

    public async Task InitializeAsync() => _redis = await RedisServers.StartNewAsync(1);

    public async Task DisposeAsync()
    {
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Fact]
    public async Task A_million_member_tag_is_deleted_far_within_the_attempt_timeout_without_holding_its_names()
    {
        const string prefix = "huge:";
        using var admin = await ConnectionMultiplexer.ConnectAsync(Redis.ConnectionString(0) + ",allowAdmin=true,syncTimeout=30000,asyncTimeout=30000");
        var db = admin.GetDatabase();
        await PopulateAsync(db, prefix, Members);
        Assert.Equal(Members, await db.SetLengthAsync(prefix + "tag:big"));
        await db.StringSetAsync(prefix + "customer:1", "cached");

        // An attempt timeout the whole tag could never fit in (on this shared machine): each page is an attempt of its own,
        // so none comes near it, and no attempt is retried.
        var timeout = TimeSpan.FromSeconds(1);
        var logs = new Worker.LogCapture();
        using var loggers = LoggerFactory.Create(b => b.AddProvider(logs));
        using var region = new TestRegion(Redis.ConnectionString(0), prefix, configure: r => r.Resilience.AttemptTimeout = timeout, loggers: loggers);
        var batch = new Invalidator.Core.Planning.InvalidationBatch();
        batch.Add(new Invalidator.Core.Planning.InvalidationPlan(Invalidator.Core.Planning.PlanOutcome.Invalidate, ["customer:1"], ["big"], []));
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var heapBefore = GC.GetTotalMemory(forceFullCollection: true);
        var allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        long peak = heapBefore;
        using var sampling = new CancellationTokenSource();
        var sampler = Task.Run(async () =>
        {
            while (!sampling.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: false));
                await Task.Delay(2);
            }
        });

        await db.ExecuteAsync("CONFIG", "RESETSTAT");
        var clock = Stopwatch.StartNew();
        var result = await region.Region.ApplyAsync(batch, CancellationToken.None);
        clock.Stop();
        await sampling.CancelAsync();
        await sampler;
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        var serverSeconds = await ServerSecondsAsync(db, "sscan", "unlink", "srem");

        output.WriteLine(
            $"{Members:N0}-member tag: applied in {clock.Elapsed.TotalSeconds:0.00} s, {Members / RedisTargetPageSize} pages of {RedisTargetPageSize} (attempt timeout {timeout.TotalSeconds:0} s, {logs.Count(2000)} retries); " +
            $"managed heap peak +{(peak - heapBefore) / 1048576.0:0.0} MB over {heapBefore / 1048576.0:0.0} MB; {allocated / 1048576.0:0} MB allocated in all; " +
            $"Redis itself ran SSCAN, UNLINK and SREM for {serverSeconds:0.00} s; machine load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        Assert.Equal(Members + 1, result.KeysFound);
        Assert.Equal(0, await db.SetLengthAsync(prefix + "tag:big"));
        Assert.Equal(0L, (long)await db.ExecuteAsync("DBSIZE"));
        Assert.Equal(0, logs.Count(2000)); // no attempt timed out (or failed)
        // A million names as strings alone are over 60 MB (and the reply and the name set as much again): a page of them is not.
        Assert.True(peak - heapBefore < 48 * 1048576, $"the managed heap grew by {(peak - heapBefore) / 1048576.0:0.0} MB while the tag was deleted");
    }

    private const int RedisTargetPageSize = Invalidator.Worker.Regions.Targets.RedisTarget.ScanPageSize;

    /// <summary>Seconds the server spent in these commands since the last <c>CONFIG RESETSTAT</c> (<c>INFO commandstats</c>).</summary>
    private static async Task<double> ServerSecondsAsync(IDatabase db, params string[] commands)
    {
        var info = (string)(await db.ExecuteAsync("INFO", "commandstats"))!;
        var total = 0L;
        foreach (var line in info.Split('\n'))
        {
            // cmdstat_unlink:calls=2000,usec=123456,usec_per_call=61.73,...
            if (commands.Any(c => line.StartsWith($"cmdstat_{c}:", StringComparison.Ordinal)))
            {
                var usec = line.Split(',').Single(p => p.StartsWith("usec=", StringComparison.Ordinal));
                total += long.Parse(usec["usec=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        return total / 1e6;
    }

    /// <summary>The keys <c>member:0..n-1</c> (cached values) and the set <c>tag:big</c> listing them, written by the server itself.</summary>
    private static async Task PopulateAsync(IDatabase db, string prefix, int count)
    {
        const string script = """
            local prefix, from, to = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
            local names = {}
            for i = from, to - 1 do
                local name = 'member:' .. i
                redis.call('SET', prefix .. name, 'v')
                names[#names + 1] = name
                if #names == 1000 then
                    redis.call('SADD', prefix .. 'tag:big', unpack(names))
                    names = {}
                end
            end
            if #names > 0 then redis.call('SADD', prefix .. 'tag:big', unpack(names)) end
            return to - from
            """;
        const int chunk = 100_000;
        for (var from = 0; from < count; from += chunk)
        {
            await db.ScriptEvaluateAsync(script, values: [prefix, from, Math.Min(count, from + chunk)]);
        }
    }
}

/// <summary>Runs alone: the test measures the managed heap of the process.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class HugeTagCollection
{
    public const string Name = "huge tag, alone";
}
