using System.Diagnostics;
using Invalidator.Core.Coverage;
using Invalidator.Core.Rules;
using Invalidator.Worker.Cli.Audit;
using Invalidator.Worker.Options;
using StackExchange.Redis;

namespace Invalidator.Benchmarks;

/// <summary>
/// The audit's costs: sorting keys into covered or not (template matching and shape folding, one thread), and a
/// whole <c>audit</c> of one region in a real redis-server (started here, killed by PID at the end) without a rate
/// bound, so the figure is what the scan itself costs. One key in ten is uncovered, so TTLs are read too.
/// </summary>
internal static class AuditBenchmark
{
    private const string Name = "audit";

    public static async Task RunAsync(Scale scale, ResultTable table)
    {
        Console.WriteLine("audit ...");
        var coverage = new KeyCoverage(RulesLoader.Parse(BenchRecords.Rules, "bench-rules.yaml"));
        var keys = Keys(10_000);
        Classify(table, coverage, keys, scale);

        Console.WriteLine("audit: starting a redis-server process ...");
        await using var server = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        var count = scale.RedisKeysPerCase;
        using (var connection = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString).ConfigureAwait(false))
        {
            var db = connection.GetDatabase();
            foreach (var chunk in Keys(count).Chunk(1000))
            {
                await db.StringSetAsync([.. chunk.Select(k => new KeyValuePair<RedisKey, RedisValue>(k, "v"))]).ConfigureAwait(false);
            }
        }

        var audit = new KeyspaceAudit(coverage, new AuditLimits(double.MaxValue, null), TextWriter.Null, TimeProvider.System);
        var clock = Stopwatch.StartNew();
        var result = await audit.RunAsync("east", new RegionOptions { Redis = server.ConnectionString }, CancellationToken.None).ConfigureAwait(false);
        clock.Stop();
        table.Add(Name, $"audit of one redis-server, {count:N0} keys, 10% uncovered, no rate bound", result.Scanned / clock.Elapsed.TotalSeconds, "keys/s",
            $"{result.Scanned:N0} scanned, {result.Uncovered.Keys:N0} uncovered in {result.Uncovered.Shapes().Count} shapes, {clock.Elapsed.TotalSeconds:F1} s");
    }

    private static void Classify(ResultTable table, KeyCoverage coverage, string[] keys, Scale scale)
    {
        var uncovered = Pass(coverage, keys);
        var warmup = Stopwatch.StartNew();
        while (warmup.Elapsed < scale.DecodeWarmup)
        {
            Pass(coverage, keys);
        }

        long passes = 0;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < scale.DecodeDuration)
        {
            Pass(coverage, keys);
            passes++;
        }

        table.Add(Name, "sort keys into covered or not by the bench rules (uncovered ones shape-folded)", passes * keys.Length / clock.Elapsed.TotalSeconds, "keys/s",
            $"{keys.Length:N0} distinct keys, {uncovered:N0} uncovered");
    }

    private static int Pass(KeyCoverage coverage, string[] keys)
    {
        var uncovered = 0;
        foreach (var key in keys)
        {
            if (coverage.KeyCoveredBy(key) is null && KeyShape.Of(key).Length > 0)
            {
                uncovered++;
            }
        }

        return uncovered;
    }

    /// <summary>Keys as a shop caches them: nine in ten rendered by the bench rules, one in ten by no rule.</summary>
    private static string[] Keys(int count) => Enumerable.Range(0, count).Select(i => (i % 10) switch
    {
        0 => $"cart:{Guid.NewGuid()}",
        1 or 2 or 3 => $"customer:{i}",
        4 => $"customer:email:user{i}@example.com",
        5 or 6 => $"product:{i}",
        7 => $"product:name:widget-{i}",
        _ => $"order:{i}",
    }).ToArray();
}
