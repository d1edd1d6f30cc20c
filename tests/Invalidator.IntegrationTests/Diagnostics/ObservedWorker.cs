using System.Text.Json;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Microsoft.Extensions.Hosting;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>
/// A running worker that has seen a known mix of traffic on its own 3-partition topic: changes that delete
/// cached keys, a row whose email is null (an unresolved template), a delete shaped like REPLICA IDENTITY DEFAULT's
/// (its key's column and type defaults), a poison record and a tombstone, each change's
/// keys deleted a second time after 200 ms (nothing repopulates them, so no second delete finds one), and a change of a
/// shadow table (counted, nothing deleted).
/// Every instrument then has a series, and the status page has something to show.
/// </summary>
public sealed class ObservedWorker : IAsyncDisposable
{
    public const int Partitions = 3;

    /// <summary>
    /// 5 changes (3 email changes, 1 null email, 1 default-identity delete), 1 poison record, 1 tombstone, 1 change of
    /// the shadow table.
    /// </summary>
    public const int RecordCount = 8;

    public const string Rules = """
        tables:
          public.customers:
            keys:
              - "customer:{id}"
              - "customer:email:{email|lower}"
            secondDelete: 200ms
          public.orders:
            keys: ["order:{id}"]
            shadow: true
        """;

    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private ObservedWorker(WorkerHarness harness, IHost host, WorkerHttp http)
    {
        Harness = harness;
        Host = host;
        Http = http;
    }

    public WorkerHarness Harness { get; }

    public IHost Host { get; }

    public WorkerHttp Http { get; }

    public string Topic => Harness.Topic;

    /// <summary>
    /// A read replica that never answers (nothing listens on port 1): the worker starts (a replica that does not answer
    /// is a warning at start) and watches it, so the replica series exist (<c>invalidator_replica_lag_seconds</c>,
    /// <c>invalidator_replica_waits_expired_total</c>); no table waits for it.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> WithUnreachableReplica = new Dictionary<string, string?>
    {
        ["Invalidator:Consistency:ReadReplicas:unreachable"] = "Host=127.0.0.1;Port=1;Database=app;Username=invalidator;Timeout=2",
    };

    public static async Task<ObservedWorker> StartAsync(ServersFixture servers, string name, IReadOnlyDictionary<string, string?>? settings = null)
    {
        ArgumentNullException.ThrowIfNull(servers);
        var harness = new WorkerHarness(servers, Rules, name);
        try
        {
            foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            {
                harness.Settings[key] = value;
            }

            await harness.CreateTopicAsync(Partitions);
            await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
            // Fresh lag readings within the test's patience.
            harness.Settings["Invalidator:Kafka:Consumer:statistics.interval.ms"] = "100";

            // Cached values for some of the keys, so the found counters and the hit ratio are not all zero.
            foreach (var region in servers.Regions)
            {
                using var redis = await servers.Redis.ConnectAsync(servers.RegionIndex(region));
                foreach (var key in new[] { "customer:1", "customer:email:old1@example.com", "customer:2" })
                {
                    await redis.GetDatabase().StringSetAsync(harness.KeyPrefix + key, "cached");
                }
            }

            var host = await harness.StartAsync();
            var worker = new ObservedWorker(harness, host, new WorkerHttp(host));
            for (var id = 1; id <= Partitions; id++)
            {
                await harness.ProduceAsync(
                    Debezium.Envelope("u", new { id, email = $"Old{id}@example.com" }, new { id, email = $"new{id}@example.com" }),
                    partition: id - 1);
            }

            await harness.ProduceAsync(Debezium.Envelope("u", new { id = 9, email = (string?)null }, new { id = 9, email = (string?)null }), partition: 0);
            await harness.ProduceAsync("{not json", partition: 1, key: "poison-key"); // offset 1: after id 2's change
            await harness.ProduceAsync(null, partition: 2, key: """{"id":9}""");
            await harness.ProduceAsync(Debezium.Envelope("d", new { id = 7, email = "" }, null), partition: 2, key: """{"id":7}""");
            await harness.ProduceAsync(Debezium.Envelope("u", new { id = 5 }, new { id = 5 }, table: "orders"), partition: 2);

            await Eventually.AssertAsync(
                async () => (await worker.StatusAsync()).GetProperty("recordsApplied").GetInt64() == RecordCount,
                Deadline,
                $"the worker applies all {RecordCount} records");
            await Eventually.AssertAsync(
                async () =>
                {
                    var partitions = (await worker.StatusAsync()).GetProperty("partitions").EnumerateArray().ToList();
                    return partitions.Count == Partitions && partitions.All(p => p.GetProperty("lagMessages").ValueKind == JsonValueKind.Number && p.GetProperty("lagMessages").GetInt64() == 0);
                },
                Deadline,
                "the committed offsets reach the log end on every partition (lag 0 from librdkafka statistics)");
            return worker;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    public async Task<JsonElement> StatusAsync()
    {
        var (status, body) = await Http.GetStatusJsonAsync();
        Assert.Equal(200, status);
        return body;
    }

    public async Task<IReadOnlyList<PrometheusSample>> ScrapeAsync() => PrometheusText.Parse(await Http.MetricsAsync());

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Harness.DisposeAsync();
    }
}

/// <summary>Files of the repository the tests check (the Grafana dashboard, the alerts).</summary>
public static class Repository
{
    public static string Root { get; } = FindUp("Invalidator.sln");

    /// <summary>The integration test project's own folder (artifacts go under its TestResults/).</summary>
    public static string TestProject { get; } = FindUp("Invalidator.IntegrationTests.csproj");

    private static string FindUp(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, file)))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"{file} not found above {AppContext.BaseDirectory}");
    }
}
