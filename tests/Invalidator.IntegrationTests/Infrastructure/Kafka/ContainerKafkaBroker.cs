using Confluent.Kafka;
using Confluent.Kafka.Admin;
using Testcontainers.Kafka;

namespace Invalidator.IntegrationTests.Infrastructure.Kafka;

/// <summary>A Kafka container as the test broker, where Docker is available.</summary>
internal sealed class ContainerKafkaBroker : KafkaBroker
{
    private const string Image = "confluentinc/cp-kafka:7.6.1";

    private readonly KafkaContainer _container;

    private ContainerKafkaBroker(KafkaContainer container) => _container = container;

    public override string BootstrapServers => _container.GetBootstrapAddress();

    public static async Task<ContainerKafkaBroker> CreateAsync()
    {
        var container = new KafkaBuilder(Image).Build();
        await container.StartAsync().ConfigureAwait(false);
        return new ContainerKafkaBroker(container);
    }

    public override async Task CreateTopicAsync(string topic, int partitions)
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
        try
        {
            await admin.CreateTopicsAsync([new TopicSpecification
            {
                Name = topic,
                NumPartitions = partitions,
                ReplicationFactor = 1,
            }]).ConfigureAwait(false);
        }
        catch (CreateTopicsException e) when (e.Results.All(r => r.Error.Code == ErrorCode.TopicAlreadyExists))
        {
            // Idempotent, like the mock's topic creation.
        }
    }

    protected override ValueTask DisposeBrokerAsync() => _container.DisposeAsync();
}
