using System.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>One region's Redis dies mid-stream: the other keeps flowing, the dead region's invalidations are dead-lettered and redriven.</summary>
[Collection(ServersCollection.Name)]
public sealed class RegionOutageTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>
    /// The healthy region's bound: the retry budget (2 retries, at most 0.2 s apart, 1 s attempt timeout)
    /// plus the dead-letter write, with room for a slow shared machine.
    /// </summary>
    private static readonly TimeSpan HealthyRegionBound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Killing_one_region_keeps_the_other_flowing_and_the_restarted_region_is_redriven()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "outage");
        FaultSettings.ApplyFastResilience(harness.Settings, servers.Regions);
        await harness.CreateTopicAsync(partitions: 2);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var east = keys.Regions[ServersFixture.East];
        var west = keys.Regions[ServersFixture.West];
        var before = Enumerable.Range(0, 10).Select(i => $"customer:{i}").ToList();
        var during = Enumerable.Range(100, 20).Select(i => $"customer:{i}").ToList();
        await keys.SetAsync([.. before, .. during]);

        await harness.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, 10).Select(i => harness.ProduceAsync(FaultSettings.Customer(i), partition: i % 2)));
        await Eventually.AssertAsync(() => keys.NoneExistAsync(before), Deadline, "records before the outage are applied in both regions");

        // West keeps a snapshot of the stale entries, then dies; its restart will load them back.
        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString(ServersFixture.West) + ",allowAdmin=true"))
        {
            await admin.GetServers()[0].ExecuteAsync("SAVE");
        }

        await servers.Redis.KillAsync(ServersFixture.West);

        var delays = new List<TimeSpan>();
        foreach (var id in Enumerable.Range(100, 20))
        {
            var clock = Stopwatch.StartNew();
            await harness.ProduceAsync(FaultSettings.Customer(id), partition: id % 2);
            await Eventually.AssertAsync(() => keys.NoneExistAsync([$"customer:{id}"], east), Deadline, $"east applies customer:{id} while west is down");
            delays.Add(clock.Elapsed);
        }

        output.WriteLine($"east delay during the outage: max {delays.Max().TotalMilliseconds:0} ms, median {delays.Order().ElementAt(delays.Count / 2).TotalMilliseconds:0} ms");
        Assert.All(delays, d => Assert.True(d < HealthyRegionBound, $"the healthy region waited {d} for the dead one"));

        // The dead letter is written once the dead region has used up its retries, after the healthy one applied.
        var letters = new List<RegionDeadLetter>();
        await Eventually.AssertAsync(
            () =>
            {
                letters = RegionLetters.ReadAll(servers.Kafka, harness.DeadLetterTopic, Deadline);
                return letters.SelectMany(l => l.Keys).Distinct().Count() == during.Count;
            },
            Deadline,
            "every invalidation west missed is in the dead-letter topic");
        Assert.All(letters, l => Assert.Equal("west", l.Region));
        Assert.Equal(during.Order(), letters.SelectMany(l => l.Keys).Distinct().Order());

        await servers.Redis.StartAsync(ServersFixture.West);
        await Eventually.AssertAsync(() => keys.NoneExistAsync(during, west), Deadline, "the redrive deletes what west missed");
        // The restarted west loaded its snapshot, so the redrive found real stale entries, not an empty server.
        var found = harness.Logs.Entries.Where(e => e.EventId == 2007).Sum(e => long.Parse(System.Text.RegularExpressions.Regex.Match(e.Message, @"(\d+) were cached").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(during.Count, found);
        // Each region keeps its own progress on the dead-letter topic (its own group), past its letters and the others'.
        foreach (var region in servers.Regions)
        {
            await Eventually.AssertAsync(
                async () => await servers.Kafka.GetLagAsync($"{harness.GroupId}.redrive.{region}", harness.DeadLetterTopic) == 0,
                Deadline,
                $"the redrive of {region} commits its progress on the dead-letter topic");
        }
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the source is fully acknowledged");
        Assert.True(await keys.NoneExistAsync([.. before, .. during]), "every expected key is gone in both regions");
    }
}
