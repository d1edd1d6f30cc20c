using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Invalidator.KafkaMock;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// End-to-end drain through Kafka: the mock broker is preloaded with realistic Debezium envelopes, every key and tag
/// member they invalidate is written to two redis-servers, and the real worker host drains them; the clock runs
/// from its first consumed record until the group's committed offsets reach the end of every partition. In the
/// same run, on the same records: the consume-only ceiling (raw, and with a minimal JSON parse) and a naive worker.
/// </summary>
internal static class DrainBenchmark
{
    private const string Part = "drain";
    private const long PartitionBudget = 3 * 1024 * 1024; // well under the mock's 5 MiB per partition

    public static async Task RunAsync(Scale scale, PerfReport report, KafkaMockCluster kafka, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides)
    {
        // No warm-up run: every case starts a new worker process, whose start (JIT, connections) is outside its window but
        // whose first seconds of tiered JIT are inside, as for a worker restarted onto a backlog.
        var schemaless = scale.IsQuick ? 10_000 : 200_000;
        var withSchema = scale.IsQuick ? 5_000 : 100_000;
        (string Label, DrainMix Mix, bool Schema, int Count)[] cases =
        [
            ("3 keys, schemaless", DrainMix.ThreeKeys, false, schemaless),
            ("3 keys, with schema", DrainMix.ThreeKeys, true, withSchema),
            ("mixed, schemaless", DrainMix.Mixed, false, schemaless),
            ("mixed, with schema", DrainMix.Mixed, true, withSchema),
        ];
        // INVALIDATOR_BENCH_DRAIN_CASES=1,3 runs only those cases (1-based), e.g. while profiling one of them.
        var only = (Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_DRAIN_CASES") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < cases.Length; i++)
        {
            if (only.Count == 0 || only.Contains((i + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)))
            {
                var (label, mix, schema, count) = cases[i];
                await RunCaseAsync(report, kafka, regions, label, mix, schema, count, scale, overrides).ConfigureAwait(false);
            }
        }
    }

    private static async Task RunCaseAsync(
        PerfReport report, KafkaMockCluster kafka, RedisServerProcess[] servers, string label, DrainMix mix, bool withSchema, int count, Scale scale,
        IReadOnlyDictionary<string, string?> overrides)
    {
        Console.WriteLine($"drain: {label}, {count:N0} records ...");
        var run = $"drain-{Guid.NewGuid():N}"[..14];
        var records = Enumerable.Range(0, count).Select(i => DrainRecords.Create(i, mix, withSchema)).ToArray();
        var topics = CreateTopics(kafka, run, records, out var partitions);
        var prefix = $"{run}:";
        // A long timeout: populating sends hundreds of MSETs at once, which a machine under load (other sessions) may take seconds to answer.
        var admins = await Task.WhenAll(servers.Select(s => ConnectionMultiplexer.ConnectAsync(s.ConnectionString + ",asyncTimeout=120000,syncTimeout=120000"))).ConfigureAwait(false);
        try
        {
            var (distinctKeys, tags) = await PopulateAsync(admins, prefix, records).ConfigureAwait(false);
            var ends = KafkaBench.Produce(kafka, Placed(run, i => records[i], records.Length, partitions), out var produceSeconds, out var bytes, out _);
            KafkaBench.AssertNothingDropped(kafka, ends.Keys);
            var keysPerRecord = records.Average(r => r.Keys.Length);
            var tagged = records.Count(r => r.Tags.Length > 0);

            // Each baseline consumer runs in a process of its own, as the worker does below: its CPU is its own.
            var raw = await ChildProcesses.ConsumeAsync(kafka, topics, count, parse: false).ConfigureAwait(false);
            var parsed = await ChildProcesses.ConsumeAsync(kafka, topics, count, parse: true).ConfigureAwait(false);
            var cpu = CpuMeter.Start(servers);
            var naive = await Baselines.NaiveWorkerAsync(
                kafka, topics, DrainRecords.Rules, servers.Select(s => s.ConnectionString).ToArray(), $"naive-{prefix}",
                scale.IsQuick ? 500 : 10_000, TimeSpan.FromSeconds(scale.IsQuick ? 3 : 10)).ConfigureAwait(false);
            var naiveCpu = cpu.Describe(naive.Records);

            var around = CpuMeter.Start(servers); // the broker (this process) and the redis-servers while the worker drains
            var measured = await RunWorkerProcessAsync(kafka, servers.Select(s => s.ConnectionString).ToArray(), topics, prefix, ends, count, scale, overrides).ConfigureAwait(false);
            var (brokerCpu, redisCpu) = around.PerRecord(count);
            long left = 0;
            foreach (var admin in admins)
            {
                left += (long)await admin.GetDatabase().ExecuteAsync("DBSIZE").ConfigureAwait(false);
            }

            var child = measured.Report;
            var workerCpu = child.CpuSeconds * 1e6 / count;
            var parsedCpu = parsed.CpuSeconds * 1e6 / count;
            var workerRate = count / measured.ToCommitted.TotalSeconds;
            var parsedRate = count / parsed.Seconds;
            var naiveRate = naive.Records / naive.Seconds;
            var shape = $"~{bytes / count:N0} B a record, {keysPerRecord:F2} keys a record ({distinctKeys:N0} distinct), {tagged:N0} records with a tag ({tags:N0} distinct)";
            report.Add(Part, $"{label}: produce {count:N0} records", count / produceSeconds, "records/s", $"{shape}; {partitions} partitions a topic");
            report.Add(Part, $"**{label}: worker CPU**", workerCpu, "µs/record",
                $"the worker process (all threads, user + system) from its first consumed record until the group's commits reached the end; " +
                $"worker build {(FirstChangeBenchmark.IsReadyToRun(typeof(Invalidator.Worker.Hosting.InvalidatorHost).Assembly.Location) ? "ReadyToRun" : "JIT only")}; " +
                $"{workerCpu / parsedCpu:F2}x the consume-with-parse baseline's; {child.CpuSecondsBeforeFirst:F2} s of CPU before the first record (start, JIT, group join); in the window the JIT compiled {child.JitMethods:N0} methods in {child.JitSeconds * 1e6 / count:F1} µs/record, GC pauses {child.GcPauseSeconds * 1e6 / count:F1} µs/record");
            report.Add(Part, $"**{label}: consume-with-parse CPU**", parsedCpu, "µs/record",
                $"a Confluent consumer with the worker's settings and one Utf8JsonReader pass over each value, in a process of its own, first to last record; raw (no parse) {raw.CpuSeconds * 1e6 / count:F1} µs/record");
            report.Add(Part, $"{label}: consume ceiling, raw", count / raw.Seconds, "records/s", "Confluent consumer with the worker's settings, no processing, a process of its own");
            report.Add(Part, $"{label}: consume ceiling, minimal JSON parse", parsedRate, "records/s", "plus one Utf8JsonReader pass over each value");
            report.Add(Part, $"{label}: naive worker", naiveRate, "records/s",
                $"{naive.Records:N0} records, {naive.Deletes:N0} awaited single-key DELs over 2 regions, a synchronous commit per record; {naiveCpu}");
            report.Add(Part, $"**{label}: worker**", workerRate, "records/s",
                $"{(measured.TimedOut ? "TIMED OUT; " : "")}first consume -> committed end {measured.ToCommitted.TotalSeconds:F2} s; " +
                $"{child.KeysDeleted / measured.ToCommitted.TotalSeconds:N0} keys/s deleted over both regions ({child.KeysDeleted:N0} UNLINKed, " +
                $"{child.KeysFound:N0} existed); keys left in Redis: {left:N0}; {child.Batches} batches; allocated {child.AllocatedBytes / (double)count:N0} B/record, " +
                $"GCs {child.Gen0}/{child.Gen1}/{child.Gen2}, peak RSS {child.PeakRssKb / 1024.0:F0} MB; meanwhile the broker's process {brokerCpu:F1} and the redis-servers {redisCpu:F1} µs/record of CPU");
            report.Add(Part, $"{label}: worker / naive", workerRate / naiveRate, "x");
            report.Add(Part, $"{label}: worker / consume with parse", 100 * workerRate / parsedRate, "%");
            if (left != 0 || measured.TimedOut)
            {
                report.Note(Part, label, $"FAILED CHECK: {left:N0} keys left in Redis, timed out: {measured.TimedOut}");
            }
        }
        finally
        {
            foreach (var admin in admins)
            {
                admin.Dispose();
            }
        }
    }

    /// <summary>One topic per table, with enough partitions that none comes near the mock's 5 MiB limit.</summary>
    internal static List<string> CreateTopics(KafkaMockCluster kafka, string run, IReadOnlyList<DrainRecord> records, out int partitions)
    {
        var largest = records.GroupBy(r => r.Table).Max(g => g.Sum(r => (long)r.Key.Length + r.Value.Length));
        partitions = (int)Math.Max(8, (largest + PartitionBudget - 1) / PartitionBudget);
        var topics = new List<string>();
        foreach (var table in new[] { "customers", "orders" })
        {
            var topic = DrainRecords.Topic(run, table);
            kafka.CreateTopic(topic, partitions);
            topics.Add(topic);
        }

        return topics;
    }

    /// <summary>
    /// Record i goes to partition i % partitions, produced one partition after the other so that each partition's log is
    /// a few large record batches, as a broker holds a backlog. Produced round robin, every batch held a record or two,
    /// and the mock broker finds a fetch's offset by walking the partition's batches one by one
    /// (<c>rd_kafka_mock_msgset_find</c>): that walk alone took 28% of the machine's CPU while the worker drained.
    /// </summary>
    internal static IEnumerable<ProducedRecord> Placed(string run, Func<int, DrainRecord> record, int count, int partitions)
    {
        for (var partition = 0; partition < partitions; partition++)
        {
            for (var i = partition; i < count; i += partitions)
            {
                var r = record(i);
                yield return new ProducedRecord(DrainRecords.Topic(run, r.Table), partition, r.Key, r.Value);
            }
        }
    }

    /// <summary>Writes every key the records invalidate, and each tag's set with its members, into every region.</summary>
    private static async Task<(int Keys, int Tags)> PopulateAsync(ConnectionMultiplexer[] admins, string prefix, IReadOnlyList<DrainRecord> records)
    {
        var keys = records.SelectMany(r => r.Keys).Distinct(StringComparer.Ordinal).ToList();
        var tags = records.SelectMany(r => r.Tags).Distinct(StringComparer.Ordinal).ToList();
        var members = tags.SelectMany(DrainRecords.TagMembers).ToList();
        foreach (var admin in admins)
        {
            var db = admin.GetDatabase();
            var writes = keys.Concat(members).Chunk(1000)
                .Select(chunk => (Task)db.StringSetAsync([.. chunk.Select(k => new KeyValuePair<RedisKey, RedisValue>(prefix + k, "{\"cached\":true}"))]))
                .Concat(tags.Select(tag => (Task)db.SetAddAsync(prefix + "tag:" + tag, [.. DrainRecords.TagMembers(tag).Select(m => (RedisValue)m)])))
                .ToArray();
            await Task.WhenAll(writes).ConfigureAwait(false);
        }

        return (keys.Count, tags.Count);
    }

    internal static Dictionary<string, string?> KafkaSettings(KafkaMockCluster kafka, string groupId, IReadOnlyList<string> topics, string[] regionRedis, string prefix)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = kafka.BootstrapServers,
            ["Invalidator:Kafka:GroupId"] = groupId,
            // Stored offsets are committed every 100 ms instead of every second, so the commit interval does
            // not dominate a run of a few seconds. Everything else is the worker's default.
            ["Invalidator:Kafka:Consumer:auto.commit.interval.ms"] = "100",
            ["Invalidator:Rules:Path"] = "rules.yaml",
            ["Invalidator:DeadLetter:Topic"] = $"{groupId}-dlq",
        };
        for (var i = 0; i < topics.Count; i++)
        {
            settings[$"Invalidator:Kafka:Topics:{i}"] = topics[i];
        }

        for (var i = 0; i < regionRedis.Length; i++)
        {
            var region = i == 0 ? "east" : "west";
            settings[$"Invalidator:Regions:{region}:Redis"] = regionRedis[i];
            settings[$"Invalidator:Regions:{region}:KeyPrefix"] = prefix;
        }

        return settings;
    }

    /// <summary>
    /// Runs the worker host in a process of its own (<see cref="ChildProcesses.RunWorkerAsync"/>) until the group's committed
    /// offsets reach <paramref name="endOffsets"/>, timed from its first consumed record.
    /// </summary>
    internal static async Task<ChildMeasured> RunWorkerProcessAsync(
        KafkaMockCluster kafka, string[] regionRedis, IReadOnlyList<string> topics, string prefix, IReadOnlyDictionary<TopicPartition, long> endOffsets, int count,
        Scale scale, IReadOnlyDictionary<string, string?> overrides)
    {
        var groupId = $"{topics[0]}-group";
        var settings = KafkaSettings(kafka, groupId, topics, regionRedis, prefix);
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        var directory = Directory.CreateTempSubdirectory("invalidator-bench-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), DrainRecords.Rules).ConfigureAwait(false);
            var (report, committedAt) = await ChildProcesses.RunWorkerAsync(
                kafka, directory, settings, groupId, endOffsets, count, scale.IsQuick ? TimeSpan.FromSeconds(60) : TimeSpan.FromSeconds(180)).ConfigureAwait(false);
            var end = committedAt ?? DateTimeOffset.UtcNow;
            return new ChildMeasured(end - report.FirstRecordAt, report, committedAt is null);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    internal sealed record ChildMeasured(TimeSpan ToCommitted, WorkerChildReport Report, bool TimedOut);

    /// <summary>
    /// Runs the worker host (rules and settings in <paramref name="directory"/>) until the group's committed offsets reach
    /// <paramref name="endOffsets"/>, timed from its first consumed record.
    /// </summary>
    internal static async Task<Measured> RunHostAsync(
        KafkaMockCluster kafka, string directory, IReadOnlyDictionary<string, string?> settings, string groupId,
        IReadOnlyDictionary<TopicPartition, long> endOffsets, int count, TimeSpan limit)
    {
        var applied = new AppliedListener(count);
        using var host = WorkerHost.Build(directory, settings, [applied]);
        using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>());
        await host.StartAsync().ConfigureAwait(false);
        var committedAt = await Task.Run(() => KafkaBench.WaitForCommittedEnd(kafka, groupId, endOffsets, limit)).ConfigureAwait(false);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
        {
            await host.StopAsync(timeout.Token).ConfigureAwait(false);
        }

        var first = counters.FirstRecordAt ?? committedAt ?? Stopwatch.GetTimestamp();
        var end = committedAt ?? Stopwatch.GetTimestamp();
        return new Measured(
            Stopwatch.GetElapsedTime(first, end),
            applied.AllAppliedAt is { } appliedAt ? Stopwatch.GetElapsedTime(first, appliedAt) : null,
            applied.Batches,
            counters.KeysDeleted,
            counters.KeysFound,
            committedAt is null);
    }

    internal sealed record Measured(TimeSpan ToCommitted, TimeSpan? ToApplied, int Batches, long KeysDeleted, long KeysFound, bool TimedOut);
}
