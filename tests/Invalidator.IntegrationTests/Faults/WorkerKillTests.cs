using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>SIGKILL the worker process at random points, again and again, while changes keep coming: nothing is lost.</summary>
[Collection(ServersCollection.Name)]
public sealed partial class WorkerKillTests(ServersFixture servers, ITestOutputHelper output)
{
    private const int Kills = 10;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Killing_the_worker_ten_times_while_records_arrive_loses_no_invalidation()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "kill");
        await harness.CreateTopicAsync(partitions: 2);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var directory = Directory.CreateTempSubdirectory("invalidator-kill-").FullName;
        var settings = harness.ProcessSettings();
        // Per-batch lines let the test count how much was applied more than once.
        var environment = new Dictionary<string, string> { ["Logging__LogLevel__Invalidator.Worker.Processing.BatchApplier"] = "Debug" };
        var random = new Random(20261123);
        var applied = 0;
        var batches = 0;

        // Changes keep coming for as long as the kills go on: each cached key is populated, then its change produced.
        // No fixed count: on a slow machine a fixed count ran out before the last incarnations started, and a worker
        // with nothing left to apply cannot show that it applies.
        using var producing = new CancellationTokenSource();
        var produced = 0;
        var producer = Task.Run(async () =>
        {
            while (!producing.IsCancellationRequested)
            {
                var ids = Enumerable.Range(produced, 10).ToList();
                await keys.SetAsync(ids.Select(id => $"customer:{id}"));
                await Task.WhenAll(ids.Select(id => harness.ProduceAsync(FaultSettings.Customer(id), partition: id % 2)));
                produced += ids.Count;
                await Task.Delay(100, CancellationToken.None); // the pace of the trickle, not a wait for a condition
            }
        });

        try
        {
            for (var kill = 0; kill < Kills; kill++)
            {
                using var worker = WorkerProcess.Start(directory, settings, FaultSettings.Rules, environment);
                // Kill only once this incarnation is doing work, at a random point after that.
                await Eventually.AssertAsync(() => worker.HasExited || AppliedRecords(worker.Output) > 0, Deadline, $"worker {kill} applies a batch");
                Assert.False(worker.HasExited, $"worker {kill} exited by itself:\n{worker.Output}");
                await Task.Delay(random.Next(0, 400));
                worker.Kill();
                applied += AppliedRecords(worker.Output);
                batches += AppliedBatch().Count(worker.Output);
            }

            await producing.CancelAsync();
            await producer.WaitAsync(Deadline);
            using var final = WorkerProcess.Start(directory, settings, FaultSettings.Rules, environment);
            // The lag may be 0 already (the last killed worker committed everything): stopping before the host has
            // started would test a stop during start-up, not the clean stop asserted below.
            await Eventually.AssertAsync(() => final.HasExited || final.Output.Contains("Application started.", StringComparison.Ordinal), Deadline, "the final worker starts");
            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the final run commits every record");
            var exitCode = await final.StopAsync(TimeSpan.FromSeconds(30));
            Assert.True(exitCode == 0, $"a clean stop exits 0, not {exitCode}:\n{final.Output}");
            applied += AppliedRecords(final.Output);
            batches += AppliedBatch().Count(final.Output);
        }
        finally
        {
            await producing.CancelAsync();
            Directory.Delete(directory, recursive: true);
        }

        var all = Enumerable.Range(0, produced).Select(i => $"customer:{i}").ToList();
        var lost = new List<string>();
        foreach (var region in keys.Regions)
        {
            lost.AddRange(await keys.RemainingAsync(all, region));
        }

        output.WriteLine($"{Kills} kills; {batches} batches applied in all, {applied} records applied for {produced} produced: {Math.Max(0, applied - produced)} re-applied after kills (at least; a killed process loses its last log lines)");
        Assert.Empty(lost);
    }

    private static int AppliedRecords(string output) =>
        AppliedBatch().Matches(output).Sum(m => int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));

    [GeneratedRegex(@"Applied batch of (\d+) records")]
    private static partial Regex AppliedBatch();
}
