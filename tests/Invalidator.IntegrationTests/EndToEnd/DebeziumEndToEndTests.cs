using System.Net;
using System.Net.Sockets;
using Invalidator.IntegrationTests.Deploy;
using Invalidator.IntegrationTests.Faults;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.EndToEnd;

/// <summary>
/// SQL changes travel the real path: Postgres, Debezium (the shipped connector file), Kafka, the worker binary
/// with the shipped example rules, both regions' Redis. Then the worker is killed, changes are made while it is
/// down, and a new worker process picks them all up from the group's committed offsets: nothing is lost.
/// Docker only (category DockerEndToEnd); scripts/test.sh excludes the category where there is no Docker engine.
/// </summary>
[Trait("Category", DebeziumStack.Category)]
public sealed class DebeziumEndToEndTests(DebeziumStack stack) : IClassFixture<DebeziumStack>, IDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromMinutes(2);

    private readonly string _directory = Directory.CreateTempSubdirectory("invalidator-e2e-").FullName;
    private readonly string _prefix = ServersFixture.UniqueName("e2e") + ":";
    private readonly string _group = ServersFixture.UniqueName("e2e-group");
    private readonly int _httpPort = FreeLoopbackPort();

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task Sql_changes_delete_the_keys_in_both_regions_and_a_restarted_worker_loses_none()
    {
        var connections = await Task.WhenAll(stack.Regions.Select((_, i) => ConnectionMultiplexer.ConnectAsync(stack.RedisConnectionString(i))));
        try
        {
            var regions = connections.Select(c => c.GetDatabase()).ToArray();

            // The demo rows (deploy/demo/schema.sql): Ann (1, tenant 1) has order 100, Cy (3) has order 101.
            string[] changed = ["customer:1", "customer:email:ann@example.com", "customer:email:ann.new@example.com", "order:102", "customer:2:orders", "order:101", "customer:3:orders"];
            string[] untouched = ["customer:2", "customer:email:bob@example.com", "order:100"];
            await CachedKeys.SetAsync(regions, _prefix, [.. changed, .. untouched, "tenant1:report"]);
            foreach (var region in regions)
            {
                // A tagged key: the rules tag every customer change with tenant:{tenant_id}.
                await region.SetAddAsync($"{_prefix}tag:tenant:1", "tenant1:report");
            }

            using (var worker = StartWorker())
            {
                await WaitUntilReadyAsync(worker);
                await stack.ExecuteSqlAsync("""
                    UPDATE customers SET email = 'ann.new@example.com' WHERE id = 1;
                    INSERT INTO orders (id, customer_id, total) VALUES (102, 2, 5.00);
                    DELETE FROM orders WHERE id = 101;
                    """);

                await Eventually.AssertAsync(() => CachedKeys.NoneExistAsync(regions, _prefix, [.. changed, "tenant1:report"]), Deadline,
                    $"the changed rows' keys (the old email's too) and the tagged key are deleted in both regions; worker output:\n{worker.Output}");
                Assert.True(await CachedKeys.AllExistAsync(regions, _prefix, untouched), "keys of rows nobody changed stay cached");

                worker.Kill(); // SIGKILL: nothing flushed, nothing committed on the way out
            }

            // Changes while no worker runs: Debezium keeps writing them to Kafka.
            string[] whileDown = ["customer:3", "customer:email:cy@example.com", "order:100", "customer:1:orders"];
            await CachedKeys.SetAsync(regions, _prefix, whileDown);
            await stack.ExecuteSqlAsync("""
                UPDATE customers SET name = 'Cyrus' WHERE id = 3;
                UPDATE orders SET total = 13.75 WHERE id = 100;
                """);

            using var restarted = StartWorker();
            await Eventually.AssertAsync(() => CachedKeys.NoneExistAsync(regions, _prefix, whileDown), Deadline,
                $"the restarted worker applies the changes made while it was down in both regions; worker output:\n{restarted.Output}");
            Assert.True(await CachedKeys.AllExistAsync(regions, _prefix, ["customer:2", "customer:email:bob@example.com"]), "unchanged rows stay cached");
        }
        finally
        {
            foreach (var connection in connections)
            {
                await connection.DisposeAsync();
            }
        }
    }

    /// <summary>The worker binary with the shipped example rules, in this test's consumer group and key prefix.</summary>
    private WorkerProcess StartWorker()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = stack.KafkaBootstrapServers,
            ["Invalidator:Kafka:GroupId"] = _group,
            ["Invalidator:Kafka:TopicPattern"] = DebeziumStack.TopicPattern,
            // A pattern subscription notices new topics at the next metadata refresh (5 min by default).
            ["Invalidator:Kafka:Consumer:topic.metadata.refresh.interval.ms"] = "1000",
            ["Invalidator:Rules:Path"] = "rules.yaml",
            ["Invalidator:Http:Urls"] = $"http://127.0.0.1:{_httpPort}",
            ["Invalidator:Http:StatusUrls"] = "http://127.0.0.1:0",
        };
        for (var i = 0; i < stack.Regions.Count; i++)
        {
            settings[$"Invalidator:Regions:{stack.Regions[i]}:Redis"] = stack.RedisConnectionString(i);
            settings[$"Invalidator:Regions:{stack.Regions[i]}:KeyPrefix"] = _prefix;
        }

        return WorkerProcess.Start(_directory, settings, File.ReadAllText(DeployFiles.PathOf("deploy", "rules.example.yaml")));
    }

    private async Task WaitUntilReadyAsync(WorkerProcess worker)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        await Eventually.AssertAsync(
            async () =>
            {
                Assert.False(worker.HasExited, $"the worker exited:\n{worker.Output}");
                using var response = await http.GetAsync(new Uri($"http://127.0.0.1:{_httpPort}/readyz"));
                return response.StatusCode == HttpStatusCode.OK;
            },
            Deadline,
            $"the worker owns partitions and reaches both regions (/readyz); output:\n{worker.Output}");
    }

    private static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
