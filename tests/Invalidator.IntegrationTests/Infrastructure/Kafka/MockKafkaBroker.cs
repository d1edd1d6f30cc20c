using Invalidator.KafkaMock;
namespace Invalidator.IntegrationTests.Infrastructure.Kafka;

/// <summary>The in-process librdkafka mock cluster as the test broker (no Docker needed).</summary>
internal sealed class MockKafkaBroker : KafkaBroker
{
    private readonly KafkaMockCluster _cluster = new(brokerCount: 1);

    public override string BootstrapServers => _cluster.BootstrapServers;

    public override KafkaMockCluster MockCluster => _cluster;

    // AdminClient.CreateTopicsAsync times out against the mock ("waiting for controller").
    public override Task CreateTopicAsync(string topic, int partitions)
    {
        _cluster.CreateTopic(topic, partitions);
        return Task.CompletedTask;
    }

    protected override ValueTask DisposeBrokerAsync()
    {
        _cluster.Dispose();
        return ValueTask.CompletedTask;
    }
}
