using Invalidator.IntegrationTests.Cli;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Probe;

/// <summary><c>invalidator probe --once</c> against a running direct-mode worker: ok with the worker, lost without it.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ProbeOnceCommandTests(PostgresFixture fixture) : IDisposable
{
    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task One_round_prints_each_region_ok_while_a_worker_deletes_and_exits_1_with_lost_canaries_when_none_does()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n", "probeonce", """
            CREATE TABLE customers (id int PRIMARY KEY, name text);
            CREATE TABLE invalidator_canary (worker text PRIMARY KEY, seq bigint NOT NULL, written_at timestamptz NOT NULL);
            CREATE PUBLICATION pub_probeonce FOR TABLE customers, invalidator_canary;
            """);
        var host = await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, TimeSpan.FromSeconds(60), "the worker streams from its slot");
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Source"] = "Postgres",
            ["Invalidator:Postgres:ConnectionString"] = harness.ConnectionString,
            ["Invalidator:Postgres:Publication"] = harness.Publication,
            ["Invalidator:Postgres:Slot"] = harness.Slot,
            ["Invalidator:Rules:Path"] = harness.RulesPath,
            ["Invalidator:Probe:Objective"] = "00:00:05",
            ["Invalidator:Probe:Deadline"] = "00:00:10",
        };
        for (var i = 0; i < fixture.Regions.Count; i++)
        {
            settings[$"Invalidator:Regions:{fixture.Regions[i]}:Redis"] = fixture.Redis.ConnectionString(i);
            settings[$"Invalidator:Regions:{fixture.Regions[i]}:KeyPrefix"] = harness.KeyPrefix;
        }

        var config = Path.Combine(_files.Directory, "probe.json");
        ConfigFile.Write(config, settings);

        var ok = await CliFiles.InvokeAsync("probe", "--once", "--config", config);

        Assert.True(ok.ExitCode == 0, ok.ToString());
        var lines = ok.Output.TrimEnd('\n').Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("pgeast: ok ", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("pgwest: ok ", lines[1], StringComparison.Ordinal);
        Assert.Contains("-once:", lines[0], StringComparison.Ordinal);

        // Control: with no worker consuming, the same round's canaries stay and are lost at the deadline.
        await WorkerHosts.StopAsync(host);
        settings["Invalidator:Probe:Objective"] = "00:00:01";
        settings["Invalidator:Probe:Deadline"] = "00:00:02";
        ConfigFile.Write(config, settings);

        var lost = await CliFiles.InvokeAsync("probe", "--once", "--config", config);

        Assert.True(lost.ExitCode == 1, lost.ToString());
        Assert.Contains("pgeast: lost (not gone 2 s after its commit", lost.Output, StringComparison.Ordinal);
        Assert.Contains("pgwest: lost (not gone 2 s after its commit", lost.Output, StringComparison.Ordinal);
        Assert.Contains("is in the publication", lost.Output, StringComparison.Ordinal);
    }
}
