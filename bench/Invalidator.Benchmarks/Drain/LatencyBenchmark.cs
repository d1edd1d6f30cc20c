using System.Diagnostics;
using System.Diagnostics.Metrics;
using Confluent.Kafka;
using Invalidator.KafkaMock;
using Invalidator.Worker.Options;
using Invalidator.Worker.Sources.Kafka;
using Microsoft.Extensions.DependencyInjection;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// Latency at a fixed offered load: records are produced open-loop at a fixed rate into a running worker, each with its
/// produce time as source.ts_us; a record's latency runs from there to the moment its batch was applied in every
/// region (the worker's batch listeners are told after the last region answered).
/// </summary>
/// <remarks>
/// The mock broker holds a fetch that found nothing for the consumer's whole <c>fetch.wait.max.ms</c> (500 ms by
/// default) even when records arrive meanwhile (docs/environment.md); a real broker answers as soon as data is
/// there. The worker here runs with <c>fetch.wait.max.ms=1</c> so the figures are the worker's, not the mock's. The
/// producer lingers 1 ms, which is part of what is measured.
/// </remarks>
internal static class LatencyBenchmark
{
    private const string Part = "latency";
    private const int Partitions = 4;

    public static async Task RunAsync(Scale scale, PerfReport report, KafkaMockCluster kafka, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides)
    {
        var seconds = scale.IsQuick ? 2 : 10;
        foreach (var rate in new[] { 1_000, 10_000 })
        {
            await RunRateAsync(report, kafka, regions, rate, TimeSpan.FromSeconds(seconds), overrides).ConfigureAwait(false);
            await RunFloorAsync(report, kafka, rate, TimeSpan.FromSeconds(seconds)).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// The floor, right after the worker's run at the same rate: a plain consumer (the worker's consumer settings,
    /// <c>fetch.wait.max.ms=1</c>, in this process as the worker was) reads the same records produced the same way to
    /// a topic of its own; a record's latency runs from its produce time (its <c>source.ts_us</c>) to its consumption.
    /// </summary>
    private static async Task RunFloorAsync(PerfReport report, KafkaMockCluster kafka, int rate, TimeSpan duration)
    {
        Console.WriteLine($"latency: the floor, a plain consumer at {rate:N0} records/s for {duration.TotalSeconds:0} s ...");
        var topic = DrainRecords.Topic($"latfloor-{Guid.NewGuid():N}"[..17], "customers");
        kafka.CreateTopic(topic, Partitions);
        var config = KafkaConsumerSettings.Build(new KafkaOptions { BootstrapServers = kafka.BootstrapServers, GroupId = $"{topic}-group" });
        config.FetchWaitMaxMs = 1;
        var samples = new LatencySamples();
        var warmUp = TimeSpan.FromSeconds(2);
        using var stop = new CancellationTokenSource();
        var consumed = 0;
        var consuming = Task.Factory.StartNew(() =>
        {
            using var consumer = new ConsumerBuilder<Ignore, byte[]>(config).Build();
            consumer.Subscribe(topic);
            var one = new DateTimeOffset[1];
            while (!stop.IsCancellationRequested)
            {
                var result = consumer.Consume(TimeSpan.FromMilliseconds(50));
                if (result?.Message is { Value: { } value })
                {
                    var now = DateTimeOffset.UtcNow;
                    one[0] = ProducedAt(value);
                    samples.Add(one, now);
                    Interlocked.Increment(ref consumed);
                }
            }

            consumer.Close();
        }, TaskCreationOptions.LongRunning);
        var produced = await Task.Run(() => ProduceAtRate(kafka, topic, rate, warmUp, duration, samples)).ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (Volatile.Read(ref consumed) < produced && clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            await Task.Delay(20).ConfigureAwait(false);
        }

        await stop.CancelAsync().ConfigureAwait(false);
        await consuming.ConfigureAwait(false);
        var sorted = samples.Sorted();
        report.Add(Part, $"{rate:N0} records/s offered: p99, a plain consumer (the floor)", LatencySamples.Percentile(sorted, 99), "ms",
            $"p50 {LatencySamples.Percentile(sorted, 50):F2} ms, p95 {LatencySamples.Percentile(sorted, 95):F2} ms, max {sorted.LastOrDefault():F2} ms; " +
            $"{sorted.Length:N0} records over {duration.TotalSeconds:0} s after a {warmUp.TotalSeconds:0} s warm-up, {consumed:N0} of {produced:N0} consumed; " +
            "produce time -> consumed, the worker's consumer settings, fetch.wait.max.ms=1, producer linger.ms=1, run right after the worker's row above");
    }

    /// <summary>The produce time the record carries (<c>"ts_us":</c>, the source block's, written by <see cref="ProduceAtRate"/>).</summary>
    private static DateTimeOffset ProducedAt(byte[] value)
    {
        var at = value.AsSpan().IndexOf("\"ts_us\":"u8);
        if (at < 0)
        {
            throw new InvalidOperationException("a latency record without ts_us");
        }

        long micros = 0;
        for (var i = at + 8; i < value.Length && value[i] is >= (byte)'0' and <= (byte)'9'; i++)
        {
            micros = (micros * 10) + (value[i] - '0');
        }

        return DateTimeOffset.UnixEpoch.AddTicks(micros * 10);
    }

    private static async Task RunRateAsync(
        PerfReport report, KafkaMockCluster kafka, RedisServerProcess[] regions, int rate, TimeSpan duration, IReadOnlyDictionary<string, string?> overrides)
    {
        Console.WriteLine($"latency: {rate:N0} records/s for {duration.TotalSeconds:0} s ...");
        var run = $"lat-{Guid.NewGuid():N}"[..12];
        var topic = DrainRecords.Topic(run, "customers");
        kafka.CreateTopic(topic, Partitions);
        var groupId = $"{topic}-group";
        var settings = DrainBenchmark.KafkaSettings(kafka, groupId, [topic], regions.Select(r => r.ConnectionString).ToArray(), $"{run}:");
        settings["Invalidator:Kafka:Consumer:fetch.wait.max.ms"] = "1";
        foreach (var (key, value) in overrides)
        {
            settings[key] = value;
        }

        var directory = Directory.CreateTempSubdirectory("invalidator-bench-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), DrainRecords.Rules).ConfigureAwait(false);
            var samples = new LatencySamples();
            var warmUp = TimeSpan.FromSeconds(2);
            var total = (int)(rate * (warmUp + duration).TotalSeconds);
            var applied = new AppliedListener(total, samples);
            using var host = WorkerHost.Build(directory, settings, [applied]);
            using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>());
            await host.StartAsync().ConfigureAwait(false);
            try
            {
                var produced = await Task.Run(() => ProduceAtRate(kafka, topic, rate, warmUp, duration, samples)).ConfigureAwait(false);
                var clock = Stopwatch.StartNew();
                while (applied.Records < produced && clock.Elapsed < TimeSpan.FromSeconds(60))
                {
                    await Task.Delay(20).ConfigureAwait(false);
                }

                var sorted = samples.Sorted();
                report.Add(Part, $"**{rate:N0} records/s offered: p99**", LatencySamples.Percentile(sorted, 99), "ms",
                    $"p50 {LatencySamples.Percentile(sorted, 50):F2} ms, p95 {LatencySamples.Percentile(sorted, 95):F2} ms, max {sorted.LastOrDefault():F2} ms; " +
                    $"{sorted.Length:N0} records over {duration.TotalSeconds:0} s after a {warmUp.TotalSeconds:0} s warm-up, {applied.Records:N0} of {produced:N0} applied, " +
                    $"{applied.Batches} batches; produce time -> applied in both regions; fetch.wait.max.ms=1, producer linger.ms=1");
            }
            finally
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await host.StopAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>Produces open-loop at <paramref name="rate"/>: record k is due k/rate after the start, whatever the worker does.</summary>
    private static int ProduceAtRate(KafkaMockCluster kafka, string topic, int rate, TimeSpan warmUp, TimeSpan duration, LatencySamples samples)
    {
        using var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig
        {
            BootstrapServers = kafka.BootstrapServers,
            Acks = Acks.Leader,
            LingerMs = 1,
        }).Build();
        var clock = Stopwatch.StartNew();
        var produced = 0;
        var measuring = false;
        while (clock.Elapsed < warmUp + duration)
        {
            if (!measuring && clock.Elapsed >= warmUp)
            {
                samples.From = DateTimeOffset.UtcNow;
                measuring = true;
            }

            var due = (int)(clock.Elapsed.TotalSeconds * rate);
            while (produced < due)
            {
                var micros = (DateTimeOffset.UtcNow - DateTimeOffset.UnixEpoch).Ticks / 10;
                var record = DrainRecords.Create(produced, DrainMix.ThreeKeys, withSchema: false, micros);
                producer.Produce(new TopicPartition(topic, new Partition(produced % Partitions)), new Message<byte[], byte[]> { Key = record.Key, Value = record.Value });
                produced++;
            }

            Thread.Sleep(1);
        }

        producer.Flush(TimeSpan.FromSeconds(30));
        return produced;
    }
}
