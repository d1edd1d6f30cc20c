using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection.PortableExecutable;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.KafkaMock;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// The first changes after a start (issue 21, "a warm first change"), in both modes: the worker as it ships (<c>dotnet
/// invalidator.dll run --config FILE</c>, a process of its own) starts; once <c>/readyz</c> says it is ready, one customer
/// change at a time is sent and the clock runs until its three keys are gone from both regions (polled). Kafka mode: a
/// Debezium record produced to an empty topic, the clock from the produce call (the benchmark's producer has sent before,
/// so its own connection and metadata are not counted). Direct mode: an UPDATE committed on a Postgres of its own, the
/// clock from the statement. The first change pays whatever the JIT has not compiled yet.
/// Which build: <c>INVALIDATOR_BENCH_WORKERS</c> (paths of <c>invalidator.dll</c>, ';'-separated, e.g. a
/// <c>dotnet publish -r linux-x64</c> output, which is ReadyToRun), else the <c>invalidator.dll</c> beside this benchmark
/// (the plain build, JIT only).
/// </summary>
internal static class FirstChangeBenchmark
{
    private const string Part = "first";
    private const int Changes = 8;

    /// <summary>
    /// <c>INVALIDATOR_BENCH_FIRST_SETTLE_MS</c>: how long after <c>/readyz</c> the first change is sent (0 by default). In
    /// Kafka mode the consumer is still starting its fetches in the first few hundred milliseconds after it has its
    /// partitions; a pause shows how much of the first change is that.
    /// </summary>
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(
        int.Parse(Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_FIRST_SETTLE_MS") ?? "0", CultureInfo.InvariantCulture));

    private const string DirectRules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
        """;

    /// <summary>Kafka mode: a change is a Debezium record produced to the worker's topic (the clock runs from the produce call).</summary>
    public static Task RunAsync(Scale scale, PerfReport report, KafkaMockCluster kafka, RedisServerProcess[] regions) =>
        RunModeAsync(scale, report, regions, "Kafka", async () =>
        {
            var run = $"first-{Guid.NewGuid():N}"[..14];
            var topic = DrainRecords.Topic(run, "customers");
            kafka.CreateTopic(topic, 1);
            var prefix = $"{run}:";
            var settings = DrainBenchmark.KafkaSettings(kafka, $"{topic}-group", [topic], regions.Select(r => r.ConnectionString).ToArray(), prefix);
            // The mock holds an empty fetch for the whole fetch.wait.max.ms (docs/environment.md): 1 ms, so the figure is the worker's.
            settings["Invalidator:Kafka:Consumer:fetch.wait.max.ms"] = "1";
            var producer = new ProducerBuilder<byte[], byte[]>(new ProducerConfig { BootstrapServers = kafka.BootstrapServers, LingerMs = 0, Acks = Acks.Leader }).Build();
            WarmProducer(kafka, producer, topic);
            return new ChangeFeed(settings, DrainRecords.Rules, prefix, producer,
                i => DrainRecords.Create(1_000_000 + i, DrainMix.ThreeKeys, withSchema: false).Keys,
                async i =>
                {
                    // Awaits the delivery report, not Flush: librdkafka's flush polls in 10 ms slices while the client's own
                    // poll thread takes the report, which added up to 10 ms to every change.
                    var record = DrainRecords.Create(1_000_000 + i, DrainMix.ThreeKeys, withSchema: false);
                    await producer.ProduceAsync(new TopicPartition(topic, new Partition(0)), new Message<byte[], byte[]> { Key = record.Key, Value = record.Value }).ConfigureAwait(false);
                });
        });

    /// <summary>
    /// Direct mode: a change is an UPDATE of a customer's email (REPLICA IDENTITY FULL, 3 keys) committed on a Postgres
    /// of its own; the clock runs from the statement, and a fresh slot per start.
    /// </summary>
    public static async Task RunDirectAsync(Scale scale, PerfReport report, RedisServerProcess[] regions)
    {
        Console.WriteLine("first: starting postgres for direct mode ...");
        await using var postgres = await PostgresServerProcess.StartAsync().ConfigureAwait(false);
        const string database = "firstchange";
        await postgres.ExecuteAsync("postgres", $"CREATE DATABASE {database}").ConfigureAwait(false);
        await postgres.ExecuteAsync(database, $"""
            CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL);
            ALTER TABLE customers REPLICA IDENTITY FULL;
            INSERT INTO customers SELECT g, 'Old.' || g || '@Example.com' FROM generate_series(1, {Changes}) g;
            CREATE PUBLICATION firstchange FOR TABLE customers;
            """).ConfigureAwait(false);
        var starts = 0;
        await RunModeAsync(scale, report, regions, "direct", async () =>
        {
            var run = ++starts;
            var prefix = $"direct-first-{run}:";
            // Every start writes new emails: the keys of change i are its row's old and new email.
            string Email(int i, int of) => $"Start{of}.{i + 1}@Example.com";
            string Before(int i) => run == 1 ? $"Old.{i + 1}@Example.com" : Email(i, run - 1);
            var settings = new Dictionary<string, string?>
            {
                ["Invalidator:Source"] = "Postgres",
                ["Invalidator:Postgres:ConnectionString"] = postgres.ConnectionString(database),
                ["Invalidator:Postgres:Publication"] = "firstchange",
                ["Invalidator:Postgres:Slot"] = $"firstchange{run}",
            };
            for (var i = 0; i < regions.Length; i++)
            {
                settings[$"Invalidator:Regions:{(i == 0 ? "east" : "west")}:Redis"] = regions[i].ConnectionString;
                settings[$"Invalidator:Regions:{(i == 0 ? "east" : "west")}:KeyPrefix"] = prefix;
            }

            var connection = new NpgsqlConnection(postgres.ConnectionString(database));
            await connection.OpenAsync().ConfigureAwait(false);
            return new ChangeFeed(settings, DirectRules, prefix, connection,
                i => [$"customer:{i + 1}", $"customer:email:{Before(i).ToLowerInvariant()}", $"customer:email:{Email(i, run).ToLowerInvariant()}"],
                async i =>
                {
                    await using var update = new NpgsqlCommand("UPDATE customers SET email = $1 WHERE id = $2", connection)
                    {
                        Parameters = { new() { Value = Email(i, run) }, new() { Value = i + 1 } },
                    };
                    await update.ExecuteNonQueryAsync().ConfigureAwait(false);
                });
        }).ConfigureAwait(false);
    }

    /// <summary>One mode's changes: the worker's settings and rules, its key prefix, what to dispose after the start, each change's keys, and the change (done when sent: produced, or committed).</summary>
    private sealed record ChangeFeed(
        Dictionary<string, string?> Settings, string Rules, string Prefix, IDisposable Client, Func<int, IReadOnlyList<string>> Keys, Func<int, Task> SendAsync);

    private static async Task RunModeAsync(Scale scale, PerfReport report, RedisServerProcess[] regions, string mode, Func<Task<ChangeFeed>> feed)
    {
        var workers = (Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_WORKERS") ?? Path.Combine(AppContext.BaseDirectory, "invalidator.dll"))
            .Split(';', StringSplitOptions.RemoveEmptyEntries);
        var starts = scale.IsQuick ? 1 : 3;
        var admins = await Task.WhenAll(regions.Select(r => ConnectionMultiplexer.ConnectAsync(r.ConnectionString))).ConfigureAwait(false);
        try
        {
            foreach (var worker in workers)
            {
                var build = IsReadyToRun(worker) ? "ReadyToRun" : "JIT only";
                var firsts = new List<double>();
                var laters = new List<double>();
                for (var start = 0; start < starts; start++)
                {
                    var (first, later) = await RunOnceAsync(admins, worker, await feed().ConfigureAwait(false)).ConfigureAwait(false);
                    firsts.Add(first);
                    laters.AddRange(later);
                }

                firsts.Sort();
                laters.Sort();
                var sent = (mode == "Kafka" ? "produce" : "UPDATE committed") + (Settle > TimeSpan.Zero ? $" {Settle.TotalMilliseconds:F0} ms after /readyz" : " right after /readyz");
                report.Add(Part, $"**first change after start, {mode}, {build}**", firsts[firsts.Count / 2], "ms",
                    $"median of {firsts.Count} starts ({string.Join(", ", firsts.Select(f => f.ToString("F1", CultureInfo.InvariantCulture)))} ms): {sent} -> its 3 keys gone in both regions; {worker}");
                report.Add(Part, $"changes 2-{Changes} after start, {mode}, {build}", laters[laters.Count / 2], "ms",
                    $"median of {laters.Count}; max {laters[^1]:F1} ms; one change at a time, each after the previous was gone");
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

    private static async Task<(double First, List<double> Later)> RunOnceAsync(ConnectionMultiplexer[] admins, string worker, ChangeFeed feed)
    {
        using var client = feed.Client;
        var port = FreePort();
        var settings = feed.Settings;
        settings["Invalidator:Http:Urls"] = $"http://127.0.0.1:{port}";
        settings["Invalidator:Http:StatusUrls"] = "";
        var directory = Directory.CreateTempSubdirectory("invalidator-bench-first-").FullName;
        Process? process = null;
        try
        {
            var rules = Path.Combine(directory, "rules.yaml");
            await File.WriteAllTextAsync(rules, feed.Rules).ConfigureAwait(false);
            settings["Invalidator:Rules:Path"] = rules;
            var config = Path.Combine(directory, "config.json");
            await File.WriteAllTextAsync(config, JsonSerializer.Serialize(Nest(settings))).ConfigureAwait(false);
            var start = new ProcessStartInfo("dotnet") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = directory };
            foreach (var argument in new[] { worker, "run", "--config", config })
            {
                start.ArgumentList.Add(argument);
            }

            ChildProcesses.AddChildEnvironment(start);
            process = Process.Start(start) ?? throw new InvalidOperationException("could not start the worker");
            process.OutputDataReceived += (_, line) => Trace(line.Data);
            process.ErrorDataReceived += (_, line) => Trace(line.Data);
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            await WaitReadyAsync(port, process).ConfigureAwait(false);
            Trace("bench: /readyz answered 200");
            await Task.Delay(Settle).ConfigureAwait(false);

            var times = new List<double>();
            for (var i = 0; i < Changes; i++)
            {
                var keys = feed.Keys(i).Select(k => (RedisKey)(feed.Prefix + k)).ToArray();
                foreach (var admin in admins)
                {
                    await admin.GetDatabase().StringSetAsync([.. keys.Select(k => new KeyValuePair<RedisKey, RedisValue>(k, "cached"))]).ConfigureAwait(false);
                }

                var clock = Stopwatch.StartNew();
                Trace($"bench: change {i} sent");
                await feed.SendAsync(i).ConfigureAwait(false);
                while (true)
                {
                    var left = 0L;
                    foreach (var admin in admins)
                    {
                        left += await admin.GetDatabase().KeyExistsAsync(keys).ConfigureAwait(false);
                    }

                    if (left == 0)
                    {
                        break;
                    }

                    if (clock.Elapsed > TimeSpan.FromSeconds(30))
                    {
                        throw new InvalidOperationException($"the worker did not delete change {i}'s keys within 30 s");
                    }
                }

                times.Add(clock.Elapsed.TotalMilliseconds);
                Trace($"bench: change {i} gone after {clock.Elapsed.TotalMilliseconds:F1} ms");
            }

            return (times[0], times.Skip(1).ToList());
        }
        finally
        {
            if (process is not null)
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                await process.WaitForExitAsync().ConfigureAwait(false);
                process.Dispose();
            }

            Directory.Delete(directory, recursive: true);
        }
    }

    /// <summary>
    /// <c>INVALIDATOR_BENCH_FIRST_OUTPUT=FILE</c>: the worker's output and the benchmark's marks (ready, sent, gone), each
    /// line with the benchmark's clock (UTC, microseconds), appended to FILE: where a slow first change spent its time,
    /// for example with <c>Logging__LogLevel__Default=Debug</c> and <c>Invalidator__Kafka__Consumer__debug=cgrp,fetch</c>
    /// in <c>INVALIDATOR_BENCH_CHILD_ENV</c>.
    /// </summary>
    private static readonly string? OutputFile = Environment.GetEnvironmentVariable("INVALIDATOR_BENCH_FIRST_OUTPUT");

    private static readonly Lock OutputLock = new();

    private static void Trace(string? line)
    {
        if (OutputFile is null || line is null)
        {
            return;
        }

        lock (OutputLock)
        {
            File.AppendAllText(OutputFile, $"{DateTime.UtcNow:HH:mm:ss.ffffff} {line}\n");
        }
    }

    /// <summary>
    /// The producer's own first-send costs (its connection to the broker, the topic's metadata) are the benchmark's, not
    /// the worker's: paid before the clock runs, with a record to another topic and a metadata request for this one.
    /// </summary>
    private static void WarmProducer(KafkaMockCluster kafka, IProducer<byte[], byte[]> producer, string topic)
    {
        var warm = topic + "-producer-warm-up";
        kafka.CreateTopic(warm, 1);
        producer.ProduceAsync(warm, new Message<byte[], byte[]> { Key = [], Value = [] }).GetAwaiter().GetResult();
        using var admin = new DependentAdminClientBuilder(producer.Handle).Build();
        admin.GetMetadata(topic, TimeSpan.FromSeconds(10));
    }

    private static async Task WaitReadyAsync(int port, Process process)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"the worker exited with {process.ExitCode} before it was ready");
            }

            try
            {
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{port}/readyz")).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException)
            {
                // slow to answer while it starts
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new InvalidOperationException("the worker was not ready within 60 s");
    }

    /// <summary>Flat configuration keys (A:B:C) as the nested JSON object a --config file holds.</summary>
    private static Dictionary<string, object> Nest(IReadOnlyDictionary<string, string?> flat)
    {
        var root = new Dictionary<string, object>(StringComparer.Ordinal);
        foreach (var (key, value) in flat)
        {
            var parts = key.Split(':');
            var node = root;
            for (var i = 0; i < parts.Length - 1; i++)
            {
                if (!node.TryGetValue(parts[i], out var child))
                {
                    child = new Dictionary<string, object>(StringComparer.Ordinal);
                    node[parts[i]] = child;
                }

                node = (Dictionary<string, object>)child;
            }

            node[parts[^1]] = value ?? "";
        }

        return root;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Whether the assembly holds ReadyToRun code (a managed native header in its CLI header).</summary>
    internal static bool IsReadyToRun(string path)
    {
        using var stream = File.OpenRead(path);
        using var pe = new PEReader(stream);
        return pe.PEHeaders.CorHeader is { ManagedNativeHeaderDirectory.Size: > 0 };
    }
}
