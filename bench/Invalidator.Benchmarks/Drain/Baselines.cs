using System.Diagnostics;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.KafkaMock;
using Invalidator.Worker.Options;
using Invalidator.Worker.Sources.Kafka;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Drain;

/// <summary>The baselines a drain is compared with, in the same run: what the source can deliver, and a naive worker.</summary>
internal static class Baselines
{
    /// <summary>
    /// Seconds, and this process's CPU seconds (all threads), from the first to the last record for a plain consumer (the
    /// worker's consumer settings, a group of its own); with <paramref name="parse"/> every value is also read through
    /// once with Utf8JsonReader, the least any JSON consumer does. Run in a process of its own
    /// (<see cref="ChildProcesses.ConsumeAsync"/>), so the CPU is the consumer's alone.
    /// </summary>
    public static (double Seconds, double CpuSeconds) Consume(string bootstrapServers, IReadOnlyList<string> topics, int count, bool parse)
    {
        var config = KafkaConsumerSettings.Build(new KafkaOptions { BootstrapServers = bootstrapServers, GroupId = $"ceiling-{Guid.NewGuid():N}" });
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
        consumer.Subscribe(topics);
        var limit = Stopwatch.StartNew();
        long? first = null;
        var cpuAtFirst = TimeSpan.Zero;
        var seen = 0;
        long tokens = 0;
        while (seen < count && limit.Elapsed < TimeSpan.FromSeconds(120))
        {
            if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is { IsPartitionEOF: false, Message: not null } record)
            {
                if (first is null)
                {
                    first = Stopwatch.GetTimestamp();
                    cpuAtFirst = Process.GetCurrentProcess().TotalProcessorTime;
                }

                seen++;
                if (parse && record.Message.Value is { } value)
                {
                    var reader = new Utf8JsonReader(value);
                    while (reader.Read())
                    {
                        tokens++;
                    }
                }
            }
        }

        var seconds = first is { } start ? Stopwatch.GetElapsedTime(start).TotalSeconds : double.NaN;
        var cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpuAtFirst).TotalSeconds;
        consumer.Close();
        GC.KeepAlive(tokens);
        return seen == count ? (seconds, cpuSeconds) : throw new InvalidOperationException($"the ceiling consumer read {seen} of {count} records");
    }

    /// <summary>
    /// A naive worker: the project's decoder and planner, then one record at a time, an awaited single-key DEL per key
    /// and region (a tag: SMEMBERS, an awaited DEL per member, SREM), then a synchronous commit of that record. Runs for
    /// at most <paramref name="records"/> records or <paramref name="limit"/>; returns what it did and how long it took.
    /// </summary>
    public static async Task<(int Records, long Deletes, double Seconds)> NaiveWorkerAsync(
        KafkaMockCluster kafka, IReadOnlyList<string> topics, string rules, IReadOnlyList<string> regions, string keyPrefix, int records, TimeSpan limit)
    {
        var ruleSet = RulesLoader.Parse(rules, "naive-rules.yaml");
        var planner = new InvalidationPlanner(ruleSet);
        var config = KafkaConsumerSettings.Build(new KafkaOptions { BootstrapServers = kafka.BootstrapServers, GroupId = $"naive-{Guid.NewGuid():N}" });
        config.EnableAutoCommit = false;
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).Build();
        var connections = await Task.WhenAll(regions.Select(r => ConnectionMultiplexer.ConnectAsync(r))).ConfigureAwait(false);
        try
        {
            var databases = connections.Select(c => c.GetDatabase()).ToArray();
            consumer.Subscribe(topics);
            var decoder = new DebeziumDecoder();
            var clock = Stopwatch.StartNew();
            long? first = null;
            var done = 0;
            long deletes = 0;
            while (done < records && clock.Elapsed < limit)
            {
                if (consumer.Consume(TimeSpan.FromMilliseconds(100)) is not { IsPartitionEOF: false, Message: not null } record)
                {
                    continue;
                }

                first ??= Stopwatch.GetTimestamp();
                var decoded = decoder.Decode(record.Topic, record.Message.Key, record.Message.Value, ruleSet.DecoderHints);
                if (decoded.Change is { } change)
                {
                    var plan = planner.Plan(change);
                    foreach (var db in databases)
                    {
                        foreach (var key in plan.Keys)
                        {
                            await db.KeyDeleteAsync(keyPrefix + key).ConfigureAwait(false);
                            deletes++;
                        }

                        foreach (var tag in plan.Tags)
                        {
                            var set = keyPrefix + "tag:" + tag;
                            var members = await db.SetMembersAsync(set).ConfigureAwait(false);
                            foreach (var member in members)
                            {
                                await db.KeyDeleteAsync(keyPrefix + (string)member!).ConfigureAwait(false);
                                deletes++;
                            }

                            await db.SetRemoveAsync(set, members).ConfigureAwait(false);
                        }
                    }
                }

                consumer.Commit(record);
                done++;
            }

            var seconds = first is { } start ? Stopwatch.GetElapsedTime(start).TotalSeconds : double.NaN;
            consumer.Close();
            return (done, deletes, seconds);
        }
        finally
        {
            foreach (var connection in connections)
            {
                connection.Dispose();
            }
        }
    }
}
