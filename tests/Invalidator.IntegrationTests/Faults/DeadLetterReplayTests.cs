using Invalidator.IntegrationTests.Cli;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Faults;

/// <summary><c>dlq replay</c>: after the cause is fixed, poison records are re-planned and applied.</summary>
[Collection(ServersCollection.Name)]
public sealed class DeadLetterReplayTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Replay_re_plans_poison_records_with_the_fixed_configuration_honouring_dry_run_reason_and_region()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "replay");
        harness.Settings["Invalidator:DeadLetter:MaxRecordBytes"] = "2048";
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await keys.SetAsync(["customer:5"]);
        // A real change that is too large for the worker's limit, and a record no fix can save.
        await harness.ProduceAsync(Debezium.Envelope("d", new { id = 5, email = "e@x.y", name = new string('n', 3000) }, null), key: """{"id":5}""");
        await harness.ProduceAsync("{broken", key: """{"id":6}""");
        await harness.StartAsync();
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "both records are dead-lettered and acknowledged");
        await Eventually.AssertAsync(async () => (await servers.Kafka.GetEndOffsetsAsync(harness.DeadLetterTopic)).Values.Sum() == 2, Deadline, "both records are on the dead-letter topic");
        Assert.True(await keys.AllExistAsync(["customer:5"]), "nothing was deleted for the oversized record");

        // The fix: a larger limit. The replay uses the fixed configuration.
        using var files = new CliFiles();
        var settings = harness.ProcessSettings();
        settings["Invalidator:DeadLetter:MaxRecordBytes"] = (1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture);
        settings["Invalidator:Rules:Path"] = files.Write("rules.yaml", FaultSettings.Rules);
        settings["Invalidator:Http:Urls"] = "http://127.0.0.1:0";
        settings["Invalidator:Http:StatusUrls"] = "http://127.0.0.1:0";
        var config = Path.Combine(files.Directory, "fixed.json");
        ConfigFile.Write(config, settings);

        var dryRun = await CliFiles.InvokeAsync("dlq", "replay", "--config", config, "--dry-run");
        Assert.True(dryRun.ExitCode == 0, dryRun.ToString());
        Assert.Contains("read 2 dead letters: 2 poison, 2 matching; 1 re-planned, 1 still undecodable; would apply 1 keys", dryRun.Output, StringComparison.Ordinal);
        Assert.True(await keys.AllExistAsync(["customer:5"]), "a dry run deletes nothing");

        var westOnly = await CliFiles.InvokeAsync("dlq", "replay", "--config", config, "--region", "west", "--reason", "MaxRecordBytes");
        Assert.True(westOnly.ExitCode == 0, westOnly.ToString());
        Assert.Contains("2 poison, 1 matching; 1 re-planned, 0 still undecodable; applied 1 keys and 0 tags to west", westOnly.Output, StringComparison.Ordinal);
        Assert.True(await keys.NoneExistAsync(["customer:5"], keys.Regions[ServersFixture.West]), "west is replayed");
        Assert.Single(await keys.RemainingAsync(["customer:5"], keys.Regions[ServersFixture.East])); // east is left alone

        var all = await CliFiles.InvokeAsync("dlq", "replay", "--config", config);
        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.True(await keys.NoneExistAsync(["customer:5"]), "a replay without --region applies in every region");
    }
}
