using System.Collections.Concurrent;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// The start-up warm-up on real servers (issue 21, a warm first change): before the source opens, the worker runs its
/// read, plan, batch and delete path over synthetic records and deletes its reserved names in every region, and none of
/// it reaches the worker's events (metrics, status, batch listeners) or its source's positions.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class StartupWarmUpTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
        """;

    [Fact]
    public async Task The_warm_up_deletes_its_reserved_names_in_every_region_before_the_source_opens_and_reports_nothing()
    {
        await using var harness = new WorkerHarness(servers, Rules, "warm-up");
        await harness.CreateTopicAsync(partitions: 1);
        var regions = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        // Names the warm-up plans from its synthetic rows: set here, so their deletion shows that its deletes ran.
        string[] reserved = [StartupWarmUp.KeyPrefix + "0"];
        await regions.SetAsync([.. reserved, "customer:1"]);
        var events = new RecordedEvents();
        harness.Services = services => services.AddSingleton<IWorkerEventListener>(events);

        await harness.StartAsync();
        await Eventually.AssertAsync(() => regions.NoneExistAsync(reserved), Deadline, "the warm-up deletes its names in every region");
        await Eventually.AssertAsync(() => Task.FromResult(harness.Logs.Count(8380) == 1), Deadline, "the warm-up says it finished");
        Assert.Equal(0, harness.Logs.Count(8381));

        // Nothing of it was reported: no region apply, no batch, no record counted, before the first real change.
        Assert.Empty(events.Applied);
        Assert.Empty(events.Batches);
        Assert.Equal(0, events.Records);

        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1 }));
        await Eventually.AssertAsync(() => regions.NoneExistAsync(["customer:1"]), Deadline, "the real change is deleted");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "and acknowledged");
        await Eventually.AssertAsync(() => Task.FromResult(events.Batches.Count == 1), Deadline, "the real batch is reported");
        Assert.Equal(servers.Regions.Count, events.Applied.Count);
        Assert.Equal(1, events.Records);
        Assert.All(events.Batches.Single().Partitions, p => Assert.NotEqual("warm-up", p.Partition.Source));
    }

    private sealed class RecordedEvents : IEventListener<RegionApplied>, IEventListener<BatchApplied>, IEventListener<RecordHandled>
    {
        private long _records;

        public ConcurrentQueue<RegionApplied> Applied { get; } = new();

        public ConcurrentQueue<BatchApplied> Batches { get; } = new();

        public long Records => Interlocked.Read(ref _records);

        public void On(in RegionApplied e) => Applied.Enqueue(e);

        public void On(in BatchApplied e) => Batches.Enqueue(e);

        public void On(in RecordHandled e) => Interlocked.Add(ref _records, e.Count);
    }
}
