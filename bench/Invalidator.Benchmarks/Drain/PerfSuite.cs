using System.Globalization;
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
    /// <param name="probe">
    /// The direct drain also with the freshness probe on (issue 20), every 5 s (its default) and every 100 ms (its
    /// shortest), then off again; and with <paramref name="offered"/> above 0 the same four runs with the updates offered at
    /// that rate into the running worker. A warm-up drain with the probe on goes first (not reported): the runs share this
    /// process, so the first would otherwise pay the JIT of the drain's and the probe's code for the others.
    /// </param>
    public static async Task<PerfReport> RunAsync(Scale scale, IReadOnlySet<string> parts, IReadOnlyDictionary<string, string?> overrides, bool replica = false, bool probe = false, int offered = 0)
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

        if (parts.Contains("first"))
        {
            await FirstChangeBenchmark.RunDirectAsync(scale, report, regions).ConfigureAwait(false);
        }

        if (parts.Contains("direct"))
        {
            if (probe)
            {
                await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(ProbeInterval: StressedProbe, Rows: 20_000, Reported: false)).ConfigureAwait(false);
            }

            var off = await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(Recvlogical: true)).ConfigureAwait(false);
            if (replica)
            {
                await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(StandbyCase.KeepingUp)).ConfigureAwait(false);
                await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(StandbyCase.Behind)).ConfigureAwait(false);
            }

            if (probe)
            {
                await CompareProbeAsync(scale, report, regions, overrides, null, off).ConfigureAwait(false);
                if (offered > 0)
                {
                    await CompareProbeAsync(scale, report, regions, overrides, offered, null).ConfigureAwait(false);
                }

                await ProbeRoundCostAsync(scale, report, regions, overrides, offered).ConfigureAwait(false);
            }
        }

        return report;
    }

    private static readonly TimeSpan DefaultProbe = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan StressedProbe = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// Probe off, every 5 s, every 100 ms, off again (the two runs without it bracket the machine's drift), and a row of
    /// each probe run's CPU per change against the mean of the two without.
    /// </summary>
    private static async Task CompareProbeAsync(Scale scale, PerfReport report, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides, int? offered, DirectDrainResult? off)
    {
        var first = off ?? await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(OfferedPerSecond: offered)).ConfigureAwait(false);
        var every5s = await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(ProbeInterval: DefaultProbe, OfferedPerSecond: offered)).ConfigureAwait(false);
        var every100ms = await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(ProbeInterval: StressedProbe, OfferedPerSecond: offered)).ConfigureAwait(false);
        var again = await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(OfferedPerSecond: offered)).ConfigureAwait(false);
        var baseline = (first.WorkerCpu + again.WorkerCpu) / 2;
        var rate = (first.ChangesPerSecond + again.ChangesPerSecond) / 2;
        var what = offered is { } perSecond ? $"{perSecond:N0} changes/s offered" : "backlog drain";
        report.Note("direct", $"**probe's cost, {what}**",
            $"worker CPU without the probe {first.WorkerCpu:F1} and {again.WorkerCpu:F1} µs/change (the noise between two identical runs: {Math.Abs(first.WorkerCpu - again.WorkerCpu):F1}); " +
            $"every 5 s {every5s.WorkerCpu:F1} ({Delta(every5s.WorkerCpu, baseline)} against their mean), every 100 ms {every100ms.WorkerCpu:F1} ({Delta(every100ms.WorkerCpu, baseline)}); " +
            $"changes/s without {first.ChangesPerSecond:N0} and {again.ChangesPerSecond:N0}, every 5 s {every5s.ChangesPerSecond:N0} ({Delta(every5s.ChangesPerSecond, rate)}), every 100 ms {every100ms.ChangesPerSecond:N0} ({Delta(every100ms.ChangesPerSecond, rate)})");

    }

    private static string Delta(double value, double baseline) => $"{(value - baseline) / baseline:+0.0%;-0.0%}";

    /// <summary>
    /// The probe's own cost, where nothing hides it: an idle worker (streaming, no updates) without the probe and with it
    /// every 100 ms, alternately, twice each. The difference over the rounds is the CPU of one round; scaled to a rate of
    /// changes it is the probe's share of the CPU per change (a round under load polls for longer while its canary waits
    /// behind other changes: the drains above show that part).
    /// </summary>
    private static async Task ProbeRoundCostAsync(Scale scale, PerfReport report, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides, int offered)
    {
        var idle = scale.IsQuick ? TimeSpan.FromSeconds(5) : TimeSpan.FromSeconds(20);
        var offRuns = new List<DirectDrainResult>();
        var onRuns = new List<DirectDrainResult>();
        for (var i = 0; i < 2; i++)
        {
            offRuns.Add(await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(Idle: idle)).ConfigureAwait(false));
            onRuns.Add(await DirectDrainBenchmark.RunAsync(scale, report, regions, overrides, new(ProbeInterval: StressedProbe, Idle: idle)).ConfigureAwait(false));
        }

        var off = offRuns.Average(r => r.WorkerCpu);
        var on = onRuns.Average(r => r.WorkerCpu);
        var rounds = onRuns.Average(r => r.RoundsPerSecond);
        // ms/s over rounds/s: ms a round, in µs.
        var perRound = (on - off) / Math.Max(0.001, rounds) * 1e3;
        var rate = offered > 0 ? offered : 50_000;
        report.Add("direct", "**probe's cost, one round (idle worker)**", perRound, "µs/round",
            $"idle worker without the probe {string.Join(" and ", offRuns.Select(r => r.WorkerCpu.ToString("F2", CultureInfo.InvariantCulture)))} ms/s, " +
            $"every 100 ms {string.Join(" and ", onRuns.Select(r => r.WorkerCpu.ToString("F2", CultureInfo.InvariantCulture)))} ms/s at {rounds:F1} rounds/s (decided in the window); " +
            $"at {rate:N0} changes/s that is {perRound / (DefaultProbe.TotalSeconds * rate):F4} µs/change every 5 s and {perRound / (StressedProbe.TotalSeconds * rate):F3} µs/change every 100 ms");
    }
}
