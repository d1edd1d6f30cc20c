using System.Globalization;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>SIGHUP makes the worker process (the built binary) reload its rules, with file watching off; the process stays up.</summary>
[Collection(ServersCollection.Name)]
public sealed class RulesSighupTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Sighup_reloads_the_rules_file_and_a_new_rule_starts_invalidating()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "sighup");
        await harness.CreateTopicAsync(partitions: 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await keys.SetAsync(["order:1", "order:2"]);
        var directory = Directory.CreateTempSubdirectory("invalidator-sighup-").FullName;
        var settings = harness.ProcessSettings();
        settings["Invalidator:Rules:Watch"] = "false"; // only the signal can reload
        try
        {
            using var worker = WorkerProcess.Start(directory, settings, FaultSettings.Rules);
            await Eventually.AssertAsync(() => worker.HasExited || worker.Output.Contains("(Invalidator:Rules:Watch is false); SIGHUP reloads it", StringComparison.Ordinal), Deadline, "the worker starts without watching its rules file");
            await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1 }, table: "orders"));
            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the first order change is handled");
            Assert.True(await keys.AllExistAsync(["order:1"]), "no rule for orders yet");

            await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), FaultSettings.Rules + "\n  public.orders:\n    keys: [\"order:{id}\"]\n");
            await SignalAsync(worker.Id, "HUP");
            await Eventually.AssertAsync(() => worker.HasExited || worker.Output.Contains("(SIGHUP): version ", StringComparison.Ordinal), Deadline, "SIGHUP reloads the rules");
            Assert.False(worker.HasExited, $"SIGHUP must not end the worker:\n{worker.Output}");

            await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 2 }, table: "orders"));
            await Eventually.AssertAsync(() => keys.NoneExistAsync(["order:2"]), Deadline, "the rule loaded on SIGHUP invalidates");

            await SignalAsync(worker.Id, "HUP");
            await Eventually.AssertAsync(() => worker.Output.Contains("is unchanged (SIGHUP)", StringComparison.Ordinal), Deadline, "a second SIGHUP finds the file unchanged and says so");
            Assert.Equal(0, await worker.StopAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}
