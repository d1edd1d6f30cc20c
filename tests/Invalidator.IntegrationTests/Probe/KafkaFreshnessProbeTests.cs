using System.Collections.Concurrent;
using Invalidator.Core.Rules;
using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Events;
using Invalidator.Worker.Probe;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Probe;

/// <summary>
/// The freshness probe in Kafka mode with two workers in one consumer group, on real servers: each probes under its own
/// name (its own row of the canary table in a real Postgres), a <see cref="CanaryRelay"/> standing in for Debezium
/// carries the rows' changes to the canary table's topic keyed by the row's key, the worker that owns the partition
/// deletes the canaries, and the worker that wrote them measures.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaFreshnessProbeTests(ServersFixture servers, PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan Objective = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ProbeDeadline = TimeSpan.FromSeconds(5);

    // Both rows' keys ({"worker":"worker-1"}, {"worker":"worker-2"}) go to partition 0 of 2 under murmur2 (asserted below):
    // whichever worker the group gives that partition deletes both workers' canaries, so one worker's are always
    // deleted by the other, whatever the assignor decides, and the other partition's owner deletes none.
    private static readonly string[] Workers = ["worker-1", "worker-2"];

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
        """;

    [Fact]
    public async Task Each_worker_measures_its_own_canaries_deleted_by_the_partition_owner_and_they_are_lost_when_the_changes_stop()
    {
        var database = await postgres.Postgres.CreateDatabaseAsync("probekafka");
        try
        {
            await postgres.Postgres.ExecuteAsync(database, """
                CREATE TABLE customers (id int PRIMARY KEY, name text);
                CREATE TABLE invalidator_canary (worker text PRIMARY KEY, seq bigint NOT NULL, written_at timestamptz NOT NULL);
                """);
            await using var harness = new WorkerHarness(servers, Rules, "probekafka");
            var topic = ServersFixture.UniqueName("probekafka") + ".public.invalidator_canary";
            await servers.Kafka.CreateTopicAsync(topic, partitions: 2);
            await using var relay = await CanaryRelay.StartAsync(postgres.Postgres.ConnectionString(database), "relay_" + database, servers.Kafka.BootstrapServers, topic);

            harness.Settings["Invalidator:Kafka:Topics:0"] = topic;
            harness.Settings["Invalidator:Probe:Enabled"] = "true";
            harness.Settings["Invalidator:Probe:Interval"] = "00:00:00.300";
            harness.Settings["Invalidator:Probe:Objective"] = Objective.ToString();
            harness.Settings["Invalidator:Probe:Deadline"] = ProbeDeadline.ToString();
            harness.Settings["Invalidator:Probe:ConnectionString"] = postgres.Postgres.ConnectionString(database);
            var workers = new List<ProbingWorker>();
            foreach (var name in Workers)
            {
                var worker = new ProbingWorker(name, topic);
                harness.Services = services =>
                {
                    services.AddSingleton<IWorkerEventListener>(worker.Canaries);
                    services.AddSingleton<IWorkerEventListener>(worker.Ownership);
                    services.AddSingleton(new ProbeWorkerName(name));
                };
                worker.Host = await harness.StartAsync(worker.Deletes);
                workers.Add(worker);
            }

            // The group settles: each worker owns one partition (the first owned both until the second joined).
            try
            {
                await Eventually.AssertAsync(() => workers.All(w => w.OwnedPartitions().Count == 1), Deadline, "each worker owns one partition of the canary topic");
            }
            catch (Xunit.Sdk.XunitException)
            {
                output.WriteLine("they own " + string.Join(", ", workers.Select(w => $"{w.Name} [{string.Join(", ", w.OwnedPartitions())}]")));
                throw;
            }

            var settled = DateTimeOffset.UtcNow;
            // A canary decided ok after this was committed after the group settled (its freshness is within the objective).
            var from = settled + Objective;
            await Eventually.AssertAsync(
                () => workers.All(w => servers.Regions.All(r => w.Canaries.Of(r, from).Count >= 5)),
                Deadline,
                "both workers measure five canaries in each region");
            foreach (var worker in workers)
            {
                foreach (var region in servers.Regions)
                {
                    output.WriteLine($"{worker.Name} {region}: {worker.Canaries.Describe(region, from)}");
                    Assert.All(worker.Canaries.Of(region, from), c => Assert.Equal(CanaryResult.Ok, c.Result));
                    // A worker measures its own canaries only.
                    Assert.All(worker.Canaries.Of(region), c => Assert.StartsWith(CanaryRule.NameOf(worker.Name, 0)[..^1], c.Canary, StringComparison.Ordinal));
                }
            }

            var relayed = relay.Relayed;
            Assert.Contains(relayed, c => c.Worker == Workers[0]);
            Assert.Contains(relayed, c => c.Worker == Workers[1]);
            var partition = Assert.Single(relayed.Select(c => c.Partition).Distinct());
            var owner = Assert.Single(workers, w => w.OwnedPartitions().Contains(partition));
            var other = Assert.Single(workers, w => w != owner);
            output.WriteLine($"both rows' changes on partition {partition}, owned by {owner.Name}; {other.Name} owns partition {other.OwnedPartitions()[0]}");

            // Who deleted each measured canary: the owner of the partition, the other worker's as well as its own.
            foreach (var worker in workers)
            {
                var measured = worker.Canaries.Of(servers.Regions[0], from).Select(c => c.Canary).ToList();
                Assert.All(measured, canary => Assert.True(owner.Deletes.Deleted(canary) && !other.Deletes.Deleted(canary),
                    $"{canary} of {worker.Name}: deleted by {owner.Name} {owner.Deletes.Deleted(canary)}, by {other.Name} {other.Deletes.Deleted(canary)}"));
            }

            Assert.True(other.Canaries.Of(servers.Regions[0], from).Count >= 5, $"{other.Name}'s canaries, deleted by {owner.Name}");

            // Per worker, its status page says the same (/metrics would mix the two hosts of this process).
            foreach (var worker in workers)
            {
                using var http = new WorkerHttp(worker.Host!);
                var (_, status) = await http.GetStatusJsonAsync();
                var regions = status.GetProperty("freshness").GetProperty("regions").EnumerateArray().ToDictionary(r => r.GetProperty("region").GetString()!);
                foreach (var region in servers.Regions)
                {
                    Assert.Equal("ok", regions[region].GetProperty("lastResult").GetString());
                }
            }

            // Control: without the stand-in for Debezium no change reaches the topic, and every canary written since is lost.
            await relay.StopAsync();
            var stopped = DateTimeOffset.UtcNow;
            var settledLost = stopped + ProbeDeadline;
            await Eventually.AssertAsync(
                () => workers.All(w => servers.Regions.All(r => w.Canaries.Of(r, settledLost).Count >= 3)),
                Deadline,
                "both workers decide three canaries in each region after the relay stopped");
            foreach (var worker in workers)
            {
                foreach (var region in servers.Regions)
                {
                    output.WriteLine($"{worker.Name} {region} without the relay: {worker.Canaries.Describe(region, settledLost)}");
                    Assert.All(worker.Canaries.Of(region, settledLost), c =>
                    {
                        Assert.Equal(CanaryResult.Lost, c.Result);
                        Assert.Contains("table.include.list", c.Reason, StringComparison.Ordinal);
                    });
                }
            }
        }
        finally
        {
            await postgres.Postgres.DropDatabaseAsync(database);
        }
    }

    /// <summary>One worker host of the test with what it measured, what it deleted and what it owns.</summary>
    private sealed class ProbingWorker(string name, string topic)
    {
        public string Name => name;

        public CanaryLog Canaries { get; } = new();

        public CanaryDeletes Deletes { get; } = new();

        public PartitionOwnership Ownership { get; } = new(topic);

        public IHost? Host { get; set; }

        public List<int> OwnedPartitions() => Ownership.Owned();
    }

    /// <summary>
    /// The canary topic's partitions one worker owns, as its rebalances said (assigned, then revoked or lost). Not the
    /// status page's list: a batch applied after its partition was revoked puts the partition back there.
    /// </summary>
    private sealed class PartitionOwnership(string topic) : IEventListener<PartitionsAssigned>, IEventListener<PartitionsRevoked>
    {
        private readonly ConcurrentDictionary<int, bool> _owned = new();

        public List<int> Owned() => [.. _owned.Keys.Order()];

        public void On(in PartitionsAssigned e)
        {
            foreach (var partition in e.Partitions.Where(p => p.Source == topic))
            {
                _owned[partition.Partition] = true;
            }
        }

        public void On(in PartitionsRevoked e)
        {
            foreach (var partition in e.Partitions.Where(p => p.Source == topic))
            {
                _owned.TryRemove(partition.Partition, out _);
            }
        }
    }

    /// <summary>The canaries one worker deleted: the keys of the batches it applied in every region.</summary>
    private sealed class CanaryDeletes : IBatchListener
    {
        private readonly ConcurrentDictionary<string, bool> _deleted = new(StringComparer.Ordinal);

        public bool Deleted(string canary) => _deleted.ContainsKey(canary);

        public void OnApplied(SourceBatch batch)
        {
            foreach (var key in batch.Invalidations.Keys)
            {
                if (key.StartsWith(CanaryRule.Namespace, StringComparison.Ordinal))
                {
                    _deleted[key] = true;
                }
            }
        }
    }
}
