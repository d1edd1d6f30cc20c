using Invalidator.KafkaMock;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// <c>perf</c>: the worker against its limits, each figure beside its baselines in the same run (issue 11): Kafka drains
/// with the consume ceiling and a naive worker, latency at a fixed offered load, memory while a 1,000,000-record
/// backlog drains, the direct-mode drain from a WAL backlog, and the BenchmarkDotNet decode + plan figures. Writes a
/// Markdown table to <c>bench/results/</c>.
/// </summary>
internal static class PerfSuite
{
    public static readonly string[] Parts = ["micro", "drain", "latency", "memory", "direct", "first"];

    /// <param name="replica">The direct drain also with a streaming standby as the one read replica (issue 19), keeping up and behind: three rows.</param>
    public static async Task<PerfReport> RunAsync(Scale scale, IReadOnlySet<string> parts, IReadOnlyDictionary<string, string?> overrides, bool replica = false)
    {
        var report = new PerfReport();
        if (parts.Contains("micro"))
        {
            MicroBenchmarks.Run(scale, report);
        }

        if (!parts.Overlaps(["drain", "latency", "memory", "direct", "first"]))
        {
            return report;
        }

        Console.WriteLine("perf: starting two redis-server processes ...");
        await using var east = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        await using var west = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        RedisServerProcess[] regions = [east, west];
        if (parts.Overlaps(["drain", "latency", "memory", "first"]))
        {
            Console.WriteLine("perf: starting the Kafka mock cluster ...");
            using var kafka = new KafkaMockCluster();
            if (parts.Contains("drain"))
            {
                await DrainBenchmark.RunAsync(scale, report, kafka, regions, overrides).ConfigureAwait(false);
            }

            if (parts.Contains("latency"))
            {
                await LatencyBenchmark.RunAsync(scale, report, kafka, regions, overrides).ConfigureAwait(false);
            }

            if (parts.Contains("memory"))
            {
                await MemoryBenchmark.RunAsync(scale, report, kafka, regions, overrides).ConfigureAwait(false);
            }

            if (parts.Contains("first"))
            {
                await FirstChangeBenchmark.RunAsync(scale, report, kafka, regions).ConfigureAwait(false);
            }
        }

        if (parts.Contains("direct"))
        {
            await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides).ConfigureAwait(false);
            if (replica)
            {
                await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, StandbyCase.KeepingUp).ConfigureAwait(false);
                await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, StandbyCase.Behind).ConfigureAwait(false);
            }
        }

        return report;
    }
}
