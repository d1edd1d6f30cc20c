using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Text.Json;
using Invalidator.KafkaMock;
using Microsoft.Extensions.DependencyInjection;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// Memory while a 1,000,000-record backlog drains: the worker runs in a process of its own (this benchmark's binary in
/// <c>worker-child</c> mode, the real host), so its peak RSS (VmHWM) is the worker's alone and not the in-process mock
/// broker's; it reports the bytes it allocated from its first record until the backlog was committed.
/// </summary>
internal static class MemoryBenchmark
{
    private const string Part = "memory";
    private const long PartitionBudget = 3 * 1024 * 1024;

    public static async Task RunAsync(Scale scale, PerfReport report, KafkaMockCluster kafka, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides)
    {
        var count = scale.IsQuick ? 50_000 : 1_000_000;
        Console.WriteLine($"memory: producing a {count:N0}-record backlog ...");
        var run = $"mem-{Guid.NewGuid():N}"[..12];
        var sample = Enumerable.Range(0, 1000).Select(i => DrainRecords.Create(i, DrainMix.ThreeKeys, withSchema: false)).ToArray();
        var partitions = (int)Math.Max(8, (long)(sample.Average(r => r.Key.Length + r.Value.Length) * count / PartitionBudget) + 1);
        var topics = new List<string>();
        foreach (var table in new[] { "customers", "orders" })
        {
            var topic = DrainRecords.Topic(run, table);
            kafka.CreateTopic(topic, partitions);
            topics.Add(topic);
        }

        var ends = KafkaBench.Produce(
            kafka, DrainBenchmark.Placed(run, i => DrainRecords.Create(i, DrainMix.ThreeKeys, withSchema: false), count, partitions),
            out _, out var bytes, out _);
        KafkaBench.AssertNothingDropped(kafka, ends.Keys);

        var directory = Directory.CreateTempSubdirectory("invalidator-bench-memory-").FullName;
        try
        {
            var groupId = $"{topics[0]}-group";
            var settings = DrainBenchmark.KafkaSettings(kafka, groupId, topics, regions.Select(r => r.ConnectionString).ToArray(), $"{run}:");
            foreach (var (key, value) in overrides)
            {
                settings[key] = value;
            }

            await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), DrainRecords.Rules).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(directory, "settings.json"), JsonSerializer.Serialize(settings)).ConfigureAwait(false);
            // INVALIDATOR_BENCH_TRACE=<file.nettrace> runs the worker process under dotnet-trace (CPU sampling): the
            // profile of the worker alone while it drains (dotnet-trace from PATH or INVALIDATOR_BENCH_DOTNET_TRACE).
            var trace = Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_TRACE");
            var start = new ProcessStartInfo(trace is null ? "dotnet" : Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_DOTNET_TRACE") ?? "dotnet-trace") { UseShellExecute = false };
            if (trace is not null)
            {
                foreach (var argument in new[] { "collect", "--profile", "dotnet-sampled-thread-time", "-o", trace, "--", "dotnet" })
                {
                    start.ArgumentList.Add(argument);
                }
            }

            start.ArgumentList.Add(typeof(MemoryBenchmark).Assembly.Location);
            start.ArgumentList.Add("worker-child");
            start.ArgumentList.Add(directory);
            Console.WriteLine($"memory: draining in a worker process ({partitions} partitions a topic) ...");
            using var child = Process.Start(start) ?? throw new InvalidOperationException("could not start the worker process");
            var clock = Stopwatch.StartNew();
            var committedAt = await Task.Run(() => KafkaBench.WaitForCommittedEnd(kafka, groupId, ends, TimeSpan.FromMinutes(5))).ConfigureAwait(false);
            var drained = clock.Elapsed;
            await File.WriteAllTextAsync(Path.Combine(directory, "stop"), "").ConfigureAwait(false); // the worker process reports and stops
            if (!child.WaitForExit(TimeSpan.FromSeconds(90)))
            {
                child.Kill(entireProcessTree: true);
                throw new InvalidOperationException("the worker process did not stop within 90 s");
            }

            var reportPath = Path.Combine(directory, "report.json");
            var child_ = File.Exists(reportPath)
                ? JsonSerializer.Deserialize<ChildReport>(await File.ReadAllTextAsync(reportPath).ConfigureAwait(false))!
                : throw new InvalidOperationException("the worker process wrote no report");
            report.Add(Part, $"**{count:N0}-record backlog: peak RSS**", child_.PeakRssKb / 1024.0, "MB",
                $"the worker process's VmHWM; ~{bytes / count:N0} B a record (3 keys, schemaless), {partitions} partitions a topic, 2 regions; " +
                $"{(committedAt is null ? "TIMED OUT" : $"drained in {drained.TotalSeconds:F1} s from the process start")}");
            report.Add(Part, $"{count:N0}-record backlog: allocated", child_.AllocatedBytes / (double)Math.Max(1, child_.Records), "B/record",
                $"GC.GetTotalAllocatedBytes from the first record to the committed end, over {child_.Records:N0} records; " +
                $"GCs gen0/1/2 {child_.Gen0}/{child_.Gen1}/{child_.Gen2}; managed heap at the end {child_.HeapBytes / 1048576.0:F0} MB");
            report.Add(Part, $"{count:N0}-record backlog: worker CPU", child_.CpuSeconds * 1e6 / Math.Max(1, child_.Records), "µs/record",
                "the worker process's CPU time (all its threads) from the first record to the committed end: no broker, no Redis");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// <c>worker-child DIR</c>: the real worker host with DIR/settings.json, until the file DIR/stop appears; then writes
    /// DIR/report.json (<see cref="ChildReport"/>) and stops.
    /// </summary>
    public static async Task<int> RunChildAsync(string directory)
    {
        var settings = JsonSerializer.Deserialize<Dictionary<string, string?>>(await File.ReadAllTextAsync(Path.Combine(directory, "settings.json")).ConfigureAwait(false))!;
        using var host = WorkerHost.Build(directory, settings, []);
        long allocatedAtFirst = 0;
        var cpuAtFirst = TimeSpan.Zero;
        int gen0 = 0, gen1 = 0, gen2 = 0;
        using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>(), () =>
        {
            allocatedAtFirst = GC.GetTotalAllocatedBytes(precise: false);
            cpuAtFirst = Process.GetCurrentProcess().TotalProcessorTime;
            (gen0, gen1, gen2) = (GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2));
        });
        await host.StartAsync().ConfigureAwait(false);
        while (!File.Exists(Path.Combine(directory, "stop")))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        var child = new ChildReport(
            counters.Records,
            GC.GetTotalAllocatedBytes(precise: true) - allocatedAtFirst,
            PeakRssKb(),
            GC.CollectionCount(0) - gen0,
            GC.CollectionCount(1) - gen1,
            GC.CollectionCount(2) - gen2,
            GC.GetTotalMemory(false),
            (Process.GetCurrentProcess().TotalProcessorTime - cpuAtFirst).TotalSeconds);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await host.StopAsync(timeout.Token).ConfigureAwait(false);
        }

        await File.WriteAllTextAsync(Path.Combine(directory, "report.json"), JsonSerializer.Serialize(child)).ConfigureAwait(false);
        return 0;
    }

    private static long PeakRssKb()
    {
        var line = File.ReadLines("/proc/self/status").First(l => l.StartsWith("VmHWM:", StringComparison.Ordinal));
        return long.Parse(line["VmHWM:".Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
    }

    internal sealed record ChildReport(long Records, long AllocatedBytes, long PeakRssKb, int Gen0, int Gen1, int Gen2, long HeapBytes, double CpuSeconds);
}
