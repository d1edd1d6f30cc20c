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
            var produced = Produce(kafka, topic, count, withSchema, out var produceSeconds, out var bytes);
            if (bytes / Partitions > MockPartitionBytes * 9 / 10)
            {
                throw new InvalidOperationException($"{bytes / Partitions:N0} bytes per partition would overflow the mock broker's 5 MiB partitions: produce fewer records");
            }

            AssertNothingDropped(kafka, topic);
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

    private static async Task<Measured> RunWorkerAsync(
        KafkaMockCluster kafka, string[] regionRedis, string directory, string topic, string prefix,
        Dictionary<int, long> endOffsets, int count, Scale scale, IReadOnlyDictionary<string, string?> overrides)
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

        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = directory });
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
        builder.Services.AddInvalidator();
        var applied = new AppliedListener(count);
        builder.Services.AddSingleton<IBatchListener>(applied);
        using var host = builder.Build();

        using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>());
        var limit = scale.IsQuick ? TimeSpan.FromSeconds(30) : TimeSpan.FromSeconds(90);
        await host.StartAsync().ConfigureAwait(false);
        var committedAt = await Task.Run(() => WaitForCommittedEnd(kafka, groupId, topic, endOffsets, limit)).ConfigureAwait(false);
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

    /// <summary>Fails if the mock broker dropped any partition's first records (its log start moved past 0).</summary>
    private static void AssertNothingDropped(KafkaMockCluster kafka, string topic)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = $"{topic}-watermarks",
        }).Build();
        for (var p = 0; p < Partitions; p++)
        {
            var low = consumer.QueryWatermarkOffsets(new TopicPartition(topic, new Partition(p)), TimeSpan.FromSeconds(10)).Low;
            if (low.Value != 0)
            {
                throw new InvalidOperationException($"the mock broker dropped the first {low.Value} records of {topic} [{p}]: produce fewer records");
            }
        }
    }

    /// <summary>Polls the group's committed offsets (from a client that does not join the group) until they reach the end.</summary>
    private static long? WaitForCommittedEnd(KafkaMockCluster kafka, string groupId, string topic, Dictionary<int, long> endOffsets, TimeSpan limit)
    {
        using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            GroupId = groupId,
            EnableAutoCommit = false,
        }).Build();
        var partitions = endOffsets.Keys.Select(p => new TopicPartition(topic, new Partition(p))).ToList();
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            var committed = consumer.Committed(partitions, TimeSpan.FromSeconds(10));
            if (committed.All(c => !c.Offset.IsSpecial && c.Offset.Value >= endOffsets[c.Partition.Value]))
            {
                return Stopwatch.GetTimestamp();
            }

            Thread.Sleep(10);
        }

        return null;
    }

    /// <summary>Produces the records round robin over the partitions; returns the end offset of each partition.</summary>
    private static Dictionary<int, long> Produce(KafkaMockCluster kafka, string topic, int count, bool withSchema, out double seconds, out long bytes)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            Acks = Acks.Leader,
            LingerMs = 5,
            BatchNumMessages = 10_000,
            QueueBufferingMaxMessages = 200_000,
        }).Build();
        var failed = 0;
        var ends = new Dictionary<int, long>();
        bytes = 0;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < count; i++)
        {
            var record = BenchRecords.Customer(i + 1, withSchema);
            bytes += record.Key.Length + record.Value.Length;
            var partition = i % Partitions;
            ends[partition] = ends.GetValueOrDefault(partition) + 1;
            var message = new Message<byte[], byte[]> { Key = record.Key, Value = record.Value };
            while (true)
            {
                try
                {
                    producer.Produce(new TopicPartition(topic, new Partition(partition)), message, report =>
                    {
                        if (report.Error.IsError)
                        {
                            Interlocked.Increment(ref failed);
                        }
                    });
                    break;
                }
                catch (ProduceException<byte[], byte[]> ex) when (ex.Error.Code == ErrorCode.Local_QueueFull)
                {
                    producer.Poll(TimeSpan.FromMilliseconds(50));
                }
            }
        }

        if (producer.Flush(TimeSpan.FromSeconds(60)) > 0 || failed > 0)
        {
            throw new InvalidOperationException($"producing to the mock broker failed ({failed} failed deliveries)");
        }

        seconds = clock.Elapsed.TotalSeconds;
        return ends;
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

    private sealed record Measured(TimeSpan ToCommitted, TimeSpan? ToApplied, int Batches, long KeysDeleted, long KeysFound, bool TimedOut);

    /// <summary>Notes when the batches applied so far cover every produced record.</summary>
    private sealed class AppliedListener(int expected) : IBatchListener
    {
        private int _records;
        private int _batches;

        public long? AllAppliedAt { get; private set; }

        public int Batches => Volatile.Read(ref _batches);

        public void OnApplied(SourceBatch batch)
        {
            Interlocked.Increment(ref _batches);
            if (Interlocked.Add(ref _records, batch.RecordCount) >= expected && AllAppliedAt is null)
            {
                AllAppliedAt = Stopwatch.GetTimestamp();
            }
        }
    }

    /// <summary>The worker's own counters, read with a MeterListener: when it consumed its first record, and its deletes.</summary>
    private sealed class WorkerCounters : IDisposable
    {
        private readonly MeterListener _listener = new();
        private long _firstRecordAt;
        private long _keysDeleted;
        private long _keysFound;

        public WorkerCounters(IMeterFactory hostMeters)
        {
            _listener.InstrumentPublished = (instrument, listener) =>
            {
                // Only this host's meter: other parts of the benchmark create instruments of the same name.
                if (instrument.Meter.Name == InvalidatorMetrics.MeterName && ReferenceEquals(instrument.Meter.Scope, hostMeters)
                    && instrument.Name is "invalidator_records" or "invalidator_keys_deleted" or "invalidator_keys_found")
                {
                    listener.EnableMeasurementEvents(instrument);
                }
            };
            _listener.SetMeasurementEventCallback<long>((instrument, value, _, _) =>
            {
                switch (instrument.Name)
                {
                    case "invalidator_records":
                        Interlocked.CompareExchange(ref _firstRecordAt, Stopwatch.GetTimestamp(), 0);
                        break;
                    case "invalidator_keys_deleted":
                        Interlocked.Add(ref _keysDeleted, value);
                        break;
                    case "invalidator_keys_found":
                        Interlocked.Add(ref _keysFound, value);
                        break;
                }
            });
            _listener.Start();
        }

        public long? FirstRecordAt => Interlocked.Read(ref _firstRecordAt) is var at and not 0 ? at : null;

        public long KeysDeleted => Interlocked.Read(ref _keysDeleted);

        public long KeysFound => Interlocked.Read(ref _keysFound);

        public void Dispose() => _listener.Dispose();
    }
}
