using Invalidator.KafkaMock;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Kafka;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>Broker faults injected through the mock cluster: the worker rides them out and skips nothing.</summary>
[Collection(ServersCollection.Name)]
public sealed class KafkaFaultTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task Broker_outage_and_commit_and_fetch_errors_neither_crash_the_worker_nor_skip_a_record()
    {
        // A private cluster: its faults must not reach the other tests' broker.
        await using var broker = KafkaBroker.StartPrivateMock();
        var mock = broker.MockCluster!;
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "kfault") { BootstrapServers = broker.BootstrapServers };
        await broker.CreateTopicAsync(harness.Topic, 2);
        await broker.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var all = Enumerable.Range(0, 60).Select(i => $"customer:{i}").ToList();
        await keys.SetAsync(all);
        var host = await harness.StartAsync();

        await ProduceAsync(broker, harness.Topic, 0, 20);
        await Eventually.AssertAsync(() => keys.NoneExistAsync(all[..20]), Deadline, "records before the faults are applied");

        // Broker down while records are produced; up again once the worker has noticed.
        var errorsBefore = harness.Logs.Count(1004);
        mock.SetBrokerDown();
        var pending = ProduceAsync(broker, harness.Topic, 20, 40);
        await Eventually.AssertAsync(() => harness.Logs.Count(1004) > errorsBefore, Deadline, "the worker sees the broker go down");
        mock.SetBrokerUp();
        await pending.WaitAsync(Deadline);
        await Eventually.AssertAsync(() => keys.NoneExistAsync(all[20..40]), Deadline, "records produced during the outage are applied");

        // Commits and fetches fail for a while.
        mock.PushRequestErrors(KafkaApiKey.OffsetCommit, ErrorCode.RequestTimedOut, ErrorCode.NotCoordinatorForGroup, ErrorCode.GroupLoadInProgress, ErrorCode.RequestTimedOut);
        mock.PushRequestErrors(KafkaApiKey.Fetch, ErrorCode.NotLeaderForPartition, ErrorCode.RequestTimedOut, ErrorCode.UnknownTopicOrPart, ErrorCode.NotLeaderForPartition);
        await ProduceAsync(broker, harness.Topic, 40, 60);
        await Eventually.AssertAsync(() => keys.NoneExistAsync(all[40..]), Deadline, "records produced during request errors are applied");
        await Eventually.AssertAsync(async () => await broker.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "every record is committed in the end");
        Assert.True(harness.Logs.Count(1010) > 0, "the injected OffsetCommit errors reached the worker");

        var lifetime = host.Services.GetRequiredService<IHostApplicationLifetime>();
        Assert.False(lifetime.ApplicationStopping.IsCancellationRequested, "the worker must still be running");
        Assert.Equal(0, host.Services.GetRequiredService<WorkerExit>().Code);
    }

    private static Task ProduceAsync(KafkaBroker broker, string topic, int from, int to) =>
        Task.WhenAll(Enumerable.Range(from, to - from).Select(i => broker.ProduceAsync(topic, i % 2, $"{{\"id\":{i}}}", FaultSettings.Customer(i))));
}
