using System.Globalization;
using System.Text.RegularExpressions;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Kafka;
using Invalidator.IntegrationTests.Worker;
using Invalidator.KafkaMock;
using Invalidator.Worker.DeadLetters;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// A region is down and the dead-letter topic refuses the first writes: nothing is acknowledged while the
/// writes fail, and the worker recovers by itself once the topic takes them.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class DeadLetterWriteFailureTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private const int FailedWrites = 5;

    private const int MaxInFlight = 4;

    [Fact]
    public async Task A_failed_dead_letter_write_acknowledges_nothing_and_the_batch_is_retried_until_it_is_written()
    {
        // A private cluster: the injected Produce errors must not reach the other tests' broker.
        await using var broker = KafkaBroker.StartPrivateMock();
        var mock = broker.MockCluster!;
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "dlqfail") { BootstrapServers = broker.BootstrapServers };
        FaultSettings.ApplyFastResilience(harness.Settings, servers.Regions);
        harness.Settings["Invalidator:Batching:MaxInFlight"] = MaxInFlight.ToString(CultureInfo.InvariantCulture);
        await broker.CreateTopicAsync(harness.Topic, 2);
        await broker.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var east = keys.Regions[ServersFixture.East];
        var west = keys.Regions[ServersFixture.West];
        var all = Enumerable.Range(0, 20).Select(i => $"customer:{i}").ToList();
        await keys.SetAsync(all);

        // West keeps a snapshot of the stale entries, then dies; its restart loads them back.
        using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString(ServersFixture.West) + ",allowAdmin=true"))
        {
            await admin.GetServers()[0].ExecuteAsync("SAVE");
        }

        await servers.Redis.KillAsync(ServersFixture.West);
        try
        {
            // Every record is on the broker before the errors are injected: from then on the worker's
            // dead-letter producer is the only producer of this cluster, so it meets every injected error.
            await Task.WhenAll(Enumerable.Range(0, all.Count).Select(i => broker.ProduceAsync(harness.Topic, i % 2, $"{{\"id\":{i}}}", FaultSettings.Customer(i))));
            var end = (await broker.GetEndOffsetsAsync(harness.Topic)).Values.Sum();
            Assert.Equal(all.Count, end);
            // A permanent error that is not about size (a letter too large is split or stored as a reference instead).
            mock.PushRequestErrors(KafkaApiKey.Produce, Enumerable.Repeat(ErrorCode.TopicAuthorizationFailed, FailedWrites).ToArray());

            await harness.StartAsync();
            await Eventually.AssertAsync(() => harness.Logs.Count(4001) > 0, Deadline, "the worker logs the failed dead-letter write");
            var committed = (await broker.GetCommittedOffsetsAsync(harness.GroupId, harness.Topic)).Values.Sum(o => o ?? 0);
            var failuresAtObservation = harness.Logs.Count(4001);
            output.WriteLine($"after the first failed write: committed {committed} of {end}");
            Assert.True(committed < end, $"the source was committed to {committed} of {end} while the dead-letter write failed");
            // The observation fell inside the failure: the worker still failed to write after it.
            await Eventually.AssertAsync(() => harness.Logs.Count(4001) > failuresAtObservation, Deadline, "the dead-letter write fails again after the observation");

            // It recovers by itself once the topic accepts writes again.
            await Eventually.AssertAsync(() => keys.NoneExistAsync(all, east), Deadline, "the healthy region applies every record");
            var letters = new List<RegionDeadLetter>();
            await Eventually.AssertAsync(
                () =>
                {
                    letters = RegionLetters.ReadAll(broker, harness.DeadLetterTopic, Deadline);
                    return letters.SelectMany(l => l.Keys).Distinct().Count() == all.Count;
                },
                Deadline,
                "every invalidation west missed is in the dead-letter topic");
            Assert.All(letters, l => Assert.Equal("west", l.Region));
            Assert.Equal(all.Order(), letters.SelectMany(l => l.Keys).Distinct().Order());
            await Eventually.AssertAsync(async () => await broker.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "the source is committed to its end");
            output.WriteLine($"failed dead-letter writes logged: {harness.Logs.Count(4001)}; letters written: {letters.Count}");
            // Each injected error fails one Produce request; with batches in flight the producer may carry several
            // letters in one request, so one error can fail several writes (each logged once), never none.
            Assert.InRange(harness.Logs.Count(4001), FailedWrites, FailedWrites * MaxInFlight);
        }
        finally
        {
            await servers.Redis.StartAsync(ServersFixture.West);
        }

        await Eventually.AssertAsync(() => keys.NoneExistAsync(all, west), Deadline, "the redrive deletes what west missed");
        // The restarted west loaded its snapshot, so the redrive found real stale entries, not an empty server.
        var found = harness.Logs.Entries.Where(e => e.EventId == 2007)
            .Sum(e => long.Parse(Regex.Match(e.Message, @"(\d+) were cached").Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Equal(all.Count, found);
        // Each region keeps its own progress on the dead-letter topic (its own group), past its letters and the others'.
        foreach (var region in servers.Regions)
        {
            await Eventually.AssertAsync(
                async () => await broker.GetLagAsync($"{harness.GroupId}.redrive.{region}", harness.DeadLetterTopic) == 0,
                Deadline,
                $"the redrive of {region} commits its progress on the dead-letter topic");
        }
    }
}
