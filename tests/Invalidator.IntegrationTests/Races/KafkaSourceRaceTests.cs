using System.Globalization;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Postgres;
using Invalidator.IntegrationTests.Worker;
using Invalidator.RaceHarness;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Races;

/// <summary>
/// The same race with the worker reading Kafka (the Kafka-protocol broker of the servers fixture): each writer publishes
/// a Debezium update event for every row it committed, as the connector would, and the worker invalidates from those.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaSourceRaceTests(ServersFixture servers, PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task Plain_deletes_leave_stale_keys_behind_the_race() =>
        RaceAssert.ShowsTheRace(await RunAsync(RaceMode.PlainDelete, "krace_plain"));

    [Fact]
    public async Task Leases_refuse_the_raced_populates_and_leave_no_stale_key() =>
        RaceAssert.ClosesTheRace(await RunAsync(RaceMode.Leases, "krace_lease"));

    [Fact]
    public async Task A_second_delete_after_the_longest_pause_deletes_the_raced_populates_and_leaves_no_stale_key() =>
        RaceAssert.SecondDeleteClosesTheRace(await RunAsync(RaceMode.SecondDelete, "krace_second"));

    private async Task<RaceReport> RunAsync(RaceMode mode, string name)
    {
        var report = await KafkaRace.RunAsync(servers, postgres.Postgres, mode, name);
        output.WriteLine(report.ToString());
        return report;
    }
}

/// <summary>One race run with the worker reading Kafka, the writers standing in for Debezium.</summary>
internal static class KafkaRace
{
    /// <param name="settings">Worker settings over the mode's (a replica's connection string, for example), given the run's database.</param>
    /// <param name="readConnectionString">Where readers load from, given the run's database (null: the primary).</param>
    public static async Task<RaceReport> RunAsync(
        ServersFixture servers, PostgresServer postgres, RaceMode mode, string name,
        Func<string, IReadOnlyDictionary<string, string?>>? settings = null, Func<string, string>? readConnectionString = null,
        Func<string, Task>? databaseReady = null)
    {
        var database = await postgres.CreateDatabaseAsync(name);
        try
        {
            await postgres.ExecuteAsync(database, RaceTable.Schema($"pub_{name}", RaceAssert.Settings.Rows));
            if (databaseReady is not null)
            {
                await databaseReady(database);
            }

            await using var harness = new WorkerHarness(servers, RaceTable.Rules(mode), name.Replace('_', '-'));
            await harness.CreateTopicAsync(partitions: 3);
            foreach (var (key, value) in mode.WorkerSettings.Concat(settings?.Invoke(database) ?? new Dictionary<string, string?>()))
            {
                harness.Settings[key] = value;
            }

            var worker = await harness.StartAsync();
            using var producer = new ProducerBuilder<string, string>(new ProducerConfig
            {
                BootstrapServers = servers.Kafka.BootstrapServers,
                LingerMs = 1,
                Acks = Acks.All,
            }).Build();
            await using var redis = await servers.Redis.ConnectAsync(ServersFixture.East);
            return await RaceHarness.RaceHarness.RunAsync(
                new RaceWorld
                {
                    ConnectionString = postgres.ConnectionString(database),
                    ReadConnectionString = readConnectionString?.Invoke(database),
                    Redis = redis.GetDatabase(),
                    KeyPrefix = harness.KeyPrefix,
                    Worker = worker.Services,
                    PublishChangesAsync = rows => PublishAsync(producer, harness.Topic, rows),
                    WaitForWorkerAsync = async (timeout, cancellationToken) =>
                    {
                        producer.Flush(cancellationToken);
                        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, timeout,
                            "the worker committed every change event");
                    },
                },
                mode,
                RaceAssert.Settings);
        }
        finally
        {
            await postgres.DropDatabaseAsync(database);
        }
    }

    /// <summary>One Debezium update event per committed row, keyed by its primary key as the connector does.</summary>
    private static Task PublishAsync(IProducer<string, string> producer, string topic, IReadOnlyList<(int Id, long Version)> rows) =>
        Task.WhenAll(rows.Select(row => producer.ProduceAsync(topic, new Message<string, string>
        {
            Key = $$"""{"id":{{row.Id.ToString(CultureInfo.InvariantCulture)}}}""",
            Value = Debezium.Envelope("u", null, new { id = row.Id, version = row.Version }, table: "race_items"),
        })));
}
