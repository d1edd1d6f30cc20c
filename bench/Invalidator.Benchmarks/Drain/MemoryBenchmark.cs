using Invalidator.KafkaMock;

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
            Console.WriteLine($"memory: draining in a worker process ({partitions} partitions a topic) ...");
            var (child_, committedAt) = await ChildProcesses.RunWorkerAsync(kafka, directory, settings, groupId, ends, count, TimeSpan.FromMinutes(5)).ConfigureAwait(false);
            var drained = child_.FirstRecordAt == DateTimeOffset.MinValue ? TimeSpan.Zero : (committedAt ?? DateTimeOffset.UtcNow) - child_.ProcessStartedAt;
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
}
