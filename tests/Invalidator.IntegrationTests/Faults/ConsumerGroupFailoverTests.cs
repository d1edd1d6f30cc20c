using System.Globalization;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// Worker processes share a consumer group while changes keep coming: one is SIGKILLed (its batches in flight
/// die unacknowledged), its partitions move to the survivor, a third joins and takes a share. Every key is deleted
/// in both regions and the group's lag reaches 0.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed partial class ConsumerGroupFailoverTests(ServersFixture servers, ITestOutputHelper output)
{
    /// <summary>The most records the stream produces; it stops earlier once the third worker has applied its share.</summary>
    private const int MaxRecords = 20_000;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task Two_workers_then_a_kill_then_a_third_worker_lose_no_invalidation_and_the_lag_reaches_zero()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "group");
        await harness.CreateTopicAsync(partitions: 6);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var settings = harness.ProcessSettings();
        // Per-batch lines show which worker applied what.
        var environment = new Dictionary<string, string> { ["Logging__LogLevel__Invalidator.Worker.Processing.BatchApplier"] = "Debug" };
        var directories = Enumerable.Range(0, 3).Select(_ => Directory.CreateTempSubdirectory("invalidator-group-").FullName).ToList();

        // Changes keep coming the whole time: each cached key is populated, then its change produced.
        using var producing = new CancellationTokenSource();
        var produced = 0;
        var producer = Task.Run(async () =>
        {
            while (!producing.IsCancellationRequested && produced < MaxRecords)
            {
                var ids = Enumerable.Range(produced, 15).ToList();
                await keys.SetAsync(ids.Select(id => $"customer:{id}"));
                await Task.WhenAll(ids.Select(id => harness.ProduceAsync(FaultSettings.Customer(id), partition: id % 6)));
                produced += ids.Count;
                await Task.Delay(50, CancellationToken.None); // the pace of the stream, not a wait for a condition
            }
        });

        WorkerProcess? first = null, second = null, third = null;
        try
        {
            first = WorkerProcess.Start(directories[0], settings, FaultSettings.Rules, environment);
            second = WorkerProcess.Start(directories[1], settings, FaultSettings.Rules, environment);
            await Eventually.AssertAsync(() => Applied(first.Output) > 0 && Applied(second.Output) > 0, Deadline, "both workers of the group apply batches");
            Assert.False(first.HasExited || second.HasExited, $"a worker exited by itself:\n{first.Output}\n{second.Output}");

            // SIGKILL mid-stream: whatever the first worker had in flight is unacknowledged, so the survivor re-reads it.
            var assignmentsBefore = Assignments(second.Output);
            first.Kill();
            var appliedByFirst = Applied(first.Output);
            await Eventually.AssertAsync(() => Assignments(second.Output) > assignmentsBefore, Deadline, "the survivor is assigned the killed worker's partitions");

            var secondBeforeThird = Applied(second.Output);
            third = WorkerProcess.Start(directories[2], settings, FaultSettings.Rules, environment);
            try
            {
                await Eventually.AssertAsync(() => Applied(third.Output) > 0, Deadline, "the third worker joins the group and applies its share");
            }
            catch (Xunit.Sdk.XunitException)
            {
                output.WriteLine($"--- survivor:\n{second.Output}\n--- third:\n{third.Output}");
                throw;
            }

            // A little more stream with three workers, then it stops.
            var producedAtJoin = produced;
            await Eventually.AssertAsync(() => produced >= producedAtJoin + 300 || producer.IsCompleted, Deadline, "records flow while three workers share the group");
            await producing.CancelAsync();
            await producer.WaitAsync(Deadline);

            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the group's lag reaches 0");
            var all = Enumerable.Range(0, produced).Select(i => $"customer:{i}").ToList();
            var left = new List<string>();
            foreach (var region in keys.Regions)
            {
                left.AddRange(await keys.RemainingAsync(all, region));
            }

            output.WriteLine(
                $"{produced} records; applied by the killed worker {appliedByFirst}, by the survivor {Applied(second.Output)} ({secondBeforeThird} before the third joined), " +
                $"by the third {Applied(third.Output)}; {Math.Max(0, appliedByFirst + Applied(second.Output) + Applied(third.Output) - produced)} applied more than once");
            Assert.Empty(left);
            Assert.True(Applied(second.Output) > secondBeforeThird || Applied(third.Output) > 0, "the workers go on applying after the kill");

            foreach (var worker in new[] { second, third })
            {
                var exitCode = await worker.StopAsync(TimeSpan.FromSeconds(30));
                Assert.True(exitCode == 0, $"a clean stop exits 0, not {exitCode}:\n{worker.Output}");
            }
        }
        finally
        {
            await producing.CancelAsync();
            foreach (var worker in new[] { first, second, third })
            {
                worker?.Dispose();
            }

            foreach (var directory in directories)
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private static int Applied(string output) =>
        AppliedBatch().Matches(output).Sum(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));

    private static int Assignments(string output) => PartitionsAssigned().Count(output);

    [GeneratedRegex(@"Applied batch of (\d+) records")]
    private static partial Regex AppliedBatch();

    [GeneratedRegex(@"Partitions assigned: \S")]
    private static partial Regex PartitionsAssigned();
}
