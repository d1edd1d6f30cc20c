using Invalidator.Benchmarks.Drain;
using Invalidator.KafkaMock;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Sources.Kafka;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Invalidator.Benchmarks;

/// <summary>
/// The real worker host (options, rules file, Kafka source, two region invalidators) against the in-process
/// Kafka mock cluster and two redis-server processes. M records are produced first; the clock runs from the
/// worker's first consumed record to the moment the group's committed offsets reach the end of every partition.
/// </summary>
/// <remarks>
/// The mock keeps at most 5 MiB (and 100,000 messages) per partition and silently drops older records
/// (rdkafka_mock.c, <c>mpart->max_size</c>): M and the partition count keep every partition under that, and
/// the run checks that no partition lost its first records before the worker starts.
/// </remarks>
internal static class EndToEndBenchmark
{
    private const string Name = "end to end";
    private const int Partitions = 24;
    private const long MockPartitionBytes = 5 * 1024 * 1024;

    /// <summary>Each way, for the remote-regions case: an 80 ms round trip, as between regions on two continents.</summary>
    private static readonly TimeSpan RemoteRegionDelay = TimeSpan.FromMilliseconds(40);

    public static async Task RunAsync(Scale scale, ResultTable table, IReadOnlyDictionary<string, string?> overrides)
    {
        Console.WriteLine("e2e: starting the Kafka mock cluster and two redis-server processes ...");
        using var kafka = new KafkaMockCluster();
        await using var east = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        await using var west = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        RedisServerProcess[] regions = [east, west];

        // A short unreported run first, so the measured ones do not pay for JIT compilation and connection setup.
        await RunOnceAsync(null, kafka, regions, "warm-up", withSchema: false, 5_000, scale, overrides).ConfigureAwait(false);
        await RunOnceAsync(table, kafka, regions, "schemaless", withSchema: false, scale.EndToEndRecords, scale, overrides).ConfigureAwait(false);
        // Schema-ful records are ~4x larger: a quarter as many fit the mock's per-partition limit.
        await RunOnceAsync(table, kafka, regions, "with schema", withSchema: true, scale.EndToEndRecords / 4, scale, overrides).ConfigureAwait(false);

        // Regions are far away in a real deployment: behind a proxy that delays each direction, every batch's
        // deletes cost at least one round trip, which the worker hides by consuming and planning meanwhile.
        await using var eastProxy = LatencyProxy.Start(east.Port, RemoteRegionDelay);
        await using var westProxy = LatencyProxy.Start(west.Port, RemoteRegionDelay);
        await RunOnceAsync(table, kafka, regions, $"schemaless, regions {RemoteRegionDelay.TotalMilliseconds * 2:0} ms away", withSchema: false, scale.EndToEndRecords / 2, scale, overrides,
            [eastProxy.ConnectionString, westProxy.ConnectionString]).ConfigureAwait(false);
    }

    private static async Task RunOnceAsync(
        ResultTable? table, KafkaMockCluster kafka, RedisServerProcess[] servers, string label, bool withSchema, int count, Scale scale,
        IReadOnlyDictionary<string, string?> overrides, string[]? workerRedis = null)
    {
        var run = new string(label.Select(c => char.IsAsciiLetterOrDigit(c) ? c : '-').ToArray());
        var topic = $"bench-{run}.public.customers";
        var prefix = $"e2e-{run}:";
        kafka.CreateTopic(topic, Partitions);

        // Every key the records invalidate exists in both regions before the worker starts.
        var admins = await Task.WhenAll(servers.Select(s => ConnectionMultiplexer.ConnectAsync(s.ConnectionString))).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(admins.Select(a => PopulateAsync(a, prefix, count))).ConfigureAwait(false);
            var produced = KafkaBench.Produce(
                kafka, Enumerable.Range(0, count).Select(i => BenchRecords.Customer(i + 1, withSchema)).Select((r, i) => new ProducedRecord(topic, i % Partitions, r.Key, r.Value)),
                out var produceSeconds, out var bytes, out _);
            if (bytes / Partitions > MockPartitionBytes * 9 / 10)
            {
                throw new InvalidOperationException($"{bytes / Partitions:N0} bytes per partition would overflow the mock broker's 5 MiB partitions: produce fewer records");
            }

            KafkaBench.AssertNothingDropped(kafka, produced.Keys);
            if (table is null)
            {
                Console.WriteLine($"e2e: {label} ...");
            }

            table?.Add(Name, $"produce {count:N0} records ({label}, ~{bytes / count:N0} B) to the mock broker", count / produceSeconds, "records/s", "Confluent producer, before the worker starts");
            if (table is not null)
            {
                var consumeSeconds = RawConsume(kafka, topic, count);
                table.Add(Name, $"  raw consume of the same records ({label})", count / consumeSeconds, "records/s",
                    "Confluent consumer, worker's consumer settings, no processing: the source's ceiling");
            }

            var directory = Directory.CreateTempSubdirectory("invalidator-bench-").FullName;
            try
            {
                await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), BenchRecords.CustomerKeyRules).ConfigureAwait(false);
                var measured = await RunWorkerAsync(kafka, workerRedis ?? servers.Select(s => s.ConnectionString).ToArray(), directory, topic, prefix, produced, count, scale, overrides).ConfigureAwait(false);
                long left = 0;
                foreach (var admin in admins)
                {
                    left += (long)await admin.GetDatabase().ExecuteAsync("DBSIZE").ConfigureAwait(false);
                }

                var keys = count * 3L;
                var status = measured.TimedOut ? "TIMED OUT; " : "";
                if (table is null)
                {
                    return;
                }

                table.Add(Name, $"worker, {count:N0} records ({label}), {Partitions} partitions, 2 regions", count / measured.ToCommitted.TotalSeconds, "records/s",
                    $"{status}first consume -> committed end {measured.ToCommitted.TotalSeconds:F2} s; " +
                    (measured.ToApplied is { } toApplied
                        ? $"all applied at {toApplied.TotalSeconds:F2} s ({ResultTable.Format(count / toApplied.TotalSeconds)} records/s); "
                        : "NOT ALL RECORDS APPLIED; ") +
                    $"{measured.Batches} batches");
                table.Add(Name, $"  deletes ({label})", measured.KeysDeleted / (measured.ToApplied ?? measured.ToCommitted).TotalSeconds, "deletes/s",
                    $"{measured.KeysDeleted:N0} UNLINKed keys over both regions (expected {keys * servers.Length:N0}), " +
                    $"{measured.KeysFound:N0} existed; keys left in Redis: {left:N0}");
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
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

    private static async Task<DrainBenchmark.Measured> RunWorkerAsync(
        KafkaMockCluster kafka, string[] regionRedis, string directory, string topic, string prefix,
        Dictionary<TopicPartition, long> endOffsets, int count, Scale scale, IReadOnlyDictionary<string, string?> overrides)
    {
        var groupId = $"{topic}-group";
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = kafka.BootstrapServers,
            ["Invalidator:Kafka:GroupId"] = groupId,
            ["Invalidator:Kafka:Topics:0"] = topic,
            // Stored offsets are committed every 100 ms instead of every second, so the commit interval does
            // not dominate a run of a few seconds. Everything else is the worker's default.
            ["Invalidator:Kafka:Consumer:auto.commit.interval.ms"] = "100",
            ["Invalidator:Rules:Path"] = "rules.yaml",
            ["Invalidator:DeadLetter:Topic"] = $"{topic}-dlq",
        };
        for (var i = 0; i < regionRedis.Length; i++)
        {
            var region = i == 0 ? "east" : "west";
            settings[$"Invalidator:Regions:{region}:Redis"] = regionRedis[i];
            settings[$"Invalidator:Regions:{region}:KeyPrefix"] = prefix;
        }

        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        return await DrainBenchmark.RunHostAsync(kafka, directory, settings, groupId, endOffsets, count, scale.IsQuick ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(90))
            .ConfigureAwait(false);
    }

    /// <summary>Seconds from the first to the last record for a plain consumer in a group of its own.</summary>
    private static double RawConsume(KafkaMockCluster kafka, string topic, int count)
    {
        var config = KafkaConsumerSettings.Build(new KafkaOptions { BootstrapServers = kafka.BootstrapServers, GroupId = $"{topic}-raw" });
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
        consumer.Subscribe(topic);
        var limit = Stopwatch.StartNew();
        long? first = null;
        var seen = 0;
        while (seen < count && limit.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false } record && record.Message is not null)
            {
                first ??= Stopwatch.GetTimestamp();
                seen++;
            }
        }

        var seconds = first is { } start ? Stopwatch.GetElapsedTime(start).TotalSeconds : double.NaN;
        consumer.Close();
        return seen == count ? seconds : throw new InvalidOperationException($"the raw consumer read {seen} of {count} records");
    }

    private static async Task PopulateAsync(ConnectionMultiplexer admin, string prefix, int count)
    {
        var db = admin.GetDatabase();
        var writes = Enumerable.Range(1, count)
            .SelectMany(BenchRecords.CustomerKeys)
            .Chunk(1000)
            .Select(chunk => db.StringSetAsync([.. chunk.Select(k => new KeyValuePair<RedisKey, RedisValue>(prefix + k, "{\"cached\":true}"))]))
            .ToArray();
        await Task.WhenAll(writes).ConfigureAwait(false);
    }

}
