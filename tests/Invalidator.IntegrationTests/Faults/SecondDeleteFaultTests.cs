using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// The second delete when things break: a worker SIGKILLed while its second delete waits has committed nothing past
/// it, so the next one re-reads the record and does both deletes; a region that is down when the second delete is due
/// gets it dead-lettered (the offset is committed, the healthy region is deleted again) and redriven once it is back.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SecondDeleteFaultTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static string Rules(string secondDelete) => $$"""
        tables:
          public.customers:
            keys: ["customer:{id}"]
            secondDelete: {{secondDelete}}
          public.notes:
            keys: ["note:{id}"]
        """;

    [Fact]
    public async Task A_kill_before_the_second_delete_leaves_the_offset_uncommitted_and_the_next_worker_does_both_deletes()
    {
        await using var harness = new WorkerHarness(servers, Rules("1m"), "second-kill");
        await harness.CreateTopicAsync(partitions: 2);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var directory = Directory.CreateTempSubdirectory("invalidator-second-kill-").FullName;
        var settings = harness.ProcessSettings();
        var environment = new Dictionary<string, string> { ["Logging__LogLevel__Invalidator.Worker.Processing.BatchApplier"] = "Debug" };
        try
        {
            await keys.SetAsync(["customer:1", "note:1"]);
            using (var worker = WorkerProcess.Start(directory, settings, Rules("1m"), environment))
            {
                await harness.ProduceAsync(FaultSettings.Customer(1), partition: 0);
                await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:1"]), Deadline, "the first delete");
                // Commits flow: a record without a second delete, on the other partition, is committed ...
                await harness.ProduceAsync(Debezium.Envelope("d", new { id = 1 }, null, table: "notes"), partition: 1);
                await Eventually.AssertAsync(async () => (await servers.Kafka.GetCommittedOffsetsAsync(harness.GroupId, harness.Topic)).GetValueOrDefault(1) == 1, Deadline,
                    "partition 1's offset is committed");
                // ... while partition 0 waits for the second delete, a minute away.
                Assert.True((await servers.Kafka.GetCommittedOffsetsAsync(harness.GroupId, harness.Topic)).GetValueOrDefault(0) is null or 0, "partition 0 is not committed before its second delete");
                worker.Kill();
                Assert.DoesNotContain("Second delete of", worker.Output, StringComparison.Ordinal);
            }

            // A late populate the killed worker's second delete would have removed.
            await keys.SetAsync(["customer:1"]);
            using var next = WorkerProcess.Start(directory, settings, Rules("4s"), environment);
            await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:1"]), Deadline, "the next worker re-reads the record: its first delete");
            await keys.SetAsync(["customer:1"]);
            await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:1"]), Deadline, "and its second delete");
            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "then the offset is committed");
            Assert.Contains("Second delete of 1 keys and 0 tags applied in every region", next.Output, StringComparison.Ordinal);
            Assert.Equal(0, await next.StopAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_region_down_when_the_second_delete_is_due_gets_it_dead_lettered_and_redriven()
    {
        await using var harness = new WorkerHarness(servers, Rules("5s"), "second-outage");
        FaultSettings.ApplyFastResilience(harness.Settings, servers.Regions);
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var east = keys.Regions[ServersFixture.East];
        var west = keys.Regions[ServersFixture.West];
        await keys.SetAsync(["customer:7"]);

        await harness.StartAsync();
        await harness.ProduceAsync(FaultSettings.Customer(7), partition: 0);
        await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:7"]), Deadline, "the first delete in both regions");

        // Readers repopulate both regions inside the window; west is snapshotted with it and goes down.
        await keys.SetAsync(["customer:7"]);
        using (var admin = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString(ServersFixture.West) + ",allowAdmin=true"))
        {
            await admin.GetServers()[0].ExecuteAsync("SAVE");
        }

        await servers.Redis.KillAsync(ServersFixture.West);
        try
        {
            await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:7"], east), Deadline, "east's second delete");
            var letter = default(RegionDeadLetter);
            await Eventually.AssertAsync(() => (letter = RegionLetters.ReadAll(servers.Kafka, harness.DeadLetterTopic, Deadline).SingleOrDefault()) is not null, Deadline,
                "west's second delete is dead-lettered");
            Assert.Equal("west", letter!.Region);
            Assert.Equal(["customer:7"], letter.Keys);
            Assert.StartsWith("second delete: ", letter.Reason, StringComparison.Ordinal);
            Assert.Equal(harness.Topic, Assert.Single(letter.Sources).Source);
            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline,
                "the offset is committed once the second delete is durable: applied in east, dead-lettered for west");
        }
        finally
        {
            await servers.Redis.StartAsync(ServersFixture.West);
        }

        // The restarted west loaded its snapshot (the repopulated key): the redrive deletes it.
        await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:7"], west), Deadline, "the redrive deletes what west's second delete missed");
        await Eventually.AssertAsync(() => harness.Logs.Entries.Any(e => e.EventId == 2007), Deadline, "the redrive is logged");
        Assert.Contains("Region west: redrove dead letter", harness.Logs.Entries.Single(e => e.EventId == 2007).Message, StringComparison.Ordinal);
        Assert.EndsWith("(1 keys, 0 tags; 1 were cached)", harness.Logs.Entries.Single(e => e.EventId == 2007).Message, StringComparison.Ordinal);
    }
}
