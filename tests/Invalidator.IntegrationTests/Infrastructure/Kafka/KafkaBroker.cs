using Invalidator.KafkaMock;
using System.Text;
using Confluent.Kafka;

namespace Invalidator.IntegrationTests.Infrastructure.Kafka;

/// <summary>
/// A real Kafka-protocol broker for tests: the in-process librdkafka mock cluster, or a Kafka container
/// when Docker is available. Helpers produce with Confluent.Kafka and await delivery, and read a group's
/// committed offsets, so scenario tests stay independent of which broker runs.
/// </summary>
public abstract class KafkaBroker : IAsyncDisposable
{
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly Lazy<IProducer<byte[]?, byte[]?>> _producer;

    protected KafkaBroker() => _producer = new(CreateProducer);

    public abstract string BootstrapServers { get; }

    /// <summary>The mock cluster, for fault injection; null when the broker is a container.</summary>
    public virtual KafkaMockCluster? MockCluster => null;

    /// <summary>The in-process mock cluster where there is no Docker, else a Kafka container.</summary>
    public static async Task<KafkaBroker> StartNewAsync()
    {
        if (DockerAvailability.UseContainers)
        {
            return await ContainerKafkaBroker.CreateAsync().ConfigureAwait(false);
        }

        return new MockKafkaBroker();
    }

    /// <summary>A private in-process mock cluster, for fault injection that must not reach other tests' broker.</summary>
    public static KafkaBroker StartPrivateMock() => new MockKafkaBroker();

    public abstract Task CreateTopicAsync(string topic, int partitions);

    /// <summary>
    /// Consumer settings that suit the mock: it delays a re-join by session.timeout.ms - 1000, and commits in
    /// a revoke handler fail under the eager protocol, so short sessions and cooperative-sticky.
    /// </summary>
    public ConsumerConfig CreateConsumerConfig(string groupId) => new()
    {
        BootstrapServers = BootstrapServers,
        GroupId = groupId,
        AutoOffsetReset = AutoOffsetReset.Earliest,
        EnableAutoCommit = false,
        SessionTimeoutMs = 2000,
        HeartbeatIntervalMs = 500,
        PartitionAssignmentStrategy = PartitionAssignmentStrategy.CooperativeSticky,
    };

    /// <summary>Produces one record to a partition and waits until the broker has it.</summary>
    /// <param name="value">Null produces a tombstone.</param>
    public async Task<TopicPartitionOffset> ProduceAsync(
        string topic, int partition, byte[]? key, byte[]? value, Headers? headers = null)
    {
        var message = new Message<byte[]?, byte[]?> { Key = key, Value = value, Headers = headers };
        var result = await _producer.Value
            .ProduceAsync(new TopicPartition(topic, new Partition(partition)), message)
            .ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    /// <inheritdoc cref="ProduceAsync(string, int, byte[], byte[], Headers)"/>
    public Task<TopicPartitionOffset> ProduceAsync(
        string topic, int partition, string? key, string? value, Headers? headers = null) =>
        ProduceAsync(topic, partition, Utf8(key), Utf8(value), headers);

    /// <summary>
    /// Produces one record with an explicit timestamp (CreateTime), as if it had been written then: what
    /// offsetsForTimes and <c>replay --since</c> look at.
    /// </summary>
    public async Task<TopicPartitionOffset> ProduceAtAsync(string topic, int partition, string? key, string? value, DateTimeOffset timestamp)
    {
        var message = new Message<byte[]?, byte[]?> { Key = Utf8(key), Value = Utf8(value), Timestamp = new Timestamp(timestamp) };
        var result = await _producer.Value
            .ProduceAsync(new TopicPartition(topic, new Partition(partition)), message)
            .ConfigureAwait(false);
        return result.TopicPartitionOffset;
    }

    /// <summary>Produces many records at once (pipelined, not one round trip each) and waits for all.</summary>
    public async Task<IReadOnlyList<TopicPartitionOffset>> ProduceManyAsync(
        string topic, IEnumerable<(int Partition, string? Key, string? Value)> records)
    {
        ArgumentNullException.ThrowIfNull(records);
        var sends = records.Select(r => ProduceAsync(topic, r.Partition, r.Key, r.Value)).ToList();
        return await Task.WhenAll(sends).ConfigureAwait(false);
    }

    /// <summary>Partition count of an existing topic, from broker metadata.</summary>
    public Task<int> GetPartitionCountAsync(string topic) => Task.Run(() =>
    {
        using var admin = new AdminClientBuilder(new AdminClientConfig { BootstrapServers = BootstrapServers }).Build();
        var metadata = admin.GetMetadata(topic, RequestTimeout).Topics.Single(t => t.Topic == topic);
        if (metadata.Error.IsError)
        {
            throw new KafkaException(metadata.Error);
        }

        return metadata.Partitions.Count;
    });

    /// <summary>
    /// The group's committed offset per partition of <paramref name="topic"/> (the next offset to read),
    /// or null where the group has committed nothing.
    /// </summary>
    public async Task<IReadOnlyDictionary<int, long?>> GetCommittedOffsetsAsync(string groupId, string topic)
    {
        var partitions = await GetPartitionCountAsync(topic).ConfigureAwait(false);
        return await Task.Run(() =>
        {
            // Committed() fetches offsets from the group coordinator without joining the group, so this
            // throwaway member does not disturb the consumers under test.
            using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
            {
                BootstrapServers = BootstrapServers,
                GroupId = groupId,
                EnableAutoCommit = false,
            }).Build();
            var committed = consumer.Committed(
                Enumerable.Range(0, partitions).Select(p => new TopicPartition(topic, new Partition(p))),
                RequestTimeout);
            consumer.Close();
            return (IReadOnlyDictionary<int, long?>)committed.ToDictionary(
                tpo => tpo.Partition.Value,
                tpo => tpo.Offset.IsSpecial ? (long?)null : tpo.Offset.Value);
        }).ConfigureAwait(false);
    }

    /// <summary>The high watermark (offset after the last record) per partition.</summary>
    public async Task<IReadOnlyDictionary<int, long>> GetEndOffsetsAsync(string topic)
    {
        var partitions = await GetPartitionCountAsync(topic).ConfigureAwait(false);
        return await Task.Run(() =>
        {
            // A consumer that is not fetching answers QueryWatermarkOffsets at once.
            using var consumer = new ConsumerBuilder<Ignore, Ignore>(new ConsumerConfig
            {
                BootstrapServers = BootstrapServers,
                GroupId = "watermarks-" + Guid.NewGuid().ToString("N"),
            }).Build();
            return (IReadOnlyDictionary<int, long>)Enumerable.Range(0, partitions).ToDictionary(
                p => p,
                p => consumer.QueryWatermarkOffsets(new TopicPartition(topic, new Partition(p)), RequestTimeout).High.Value);
        }).ConfigureAwait(false);
    }

    /// <summary>Records the group has not acknowledged yet, over all partitions of the topic.</summary>
    public async Task<long> GetLagAsync(string groupId, string topic)
    {
        var end = await GetEndOffsetsAsync(topic).ConfigureAwait(false);
        var committed = await GetCommittedOffsetsAsync(groupId, topic).ConfigureAwait(false);
        return end.Sum(e => e.Value - (committed.GetValueOrDefault(e.Key) ?? 0));
    }

    public async ValueTask DisposeAsync()
    {
        if (_producer.IsValueCreated)
        {
            _producer.Value.Dispose();
        }

        await DisposeBrokerAsync().ConfigureAwait(false);
        GC.SuppressFinalize(this);
    }

    protected abstract ValueTask DisposeBrokerAsync();

    private IProducer<byte[]?, byte[]?> CreateProducer() =>
        new ProducerBuilder<byte[]?, byte[]?>(new ProducerConfig
        {
            BootstrapServers = BootstrapServers,
            Acks = Acks.All,
            LingerMs = 2,
            MessageTimeoutMs = 30_000,
        }).Build();

    private static byte[]? Utf8(string? text) => text is null ? null : Encoding.UTF8.GetBytes(text);
}
