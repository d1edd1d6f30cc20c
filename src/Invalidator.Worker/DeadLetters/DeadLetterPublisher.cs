using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Writes records the worker cannot use to the dead-letter topic, unchanged, with headers that say why and
/// where they came from. A write counts only once the broker acknowledged it (acks=all, idempotent), so a
/// dead-lettered record may then be acknowledged at its source without being lost.
/// </summary>
internal sealed class DeadLetterPublisher : IDisposable
{
    public const string ReasonHeader = "invalidator.reason";
    public const string KindHeader = "invalidator.kind";
    public const string SourceTopicHeader = "invalidator.source.topic";
    public const string SourcePartitionHeader = "invalidator.source.partition";
    public const string SourceOffsetHeader = "invalidator.source.offset";

    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly ILogger<DeadLetterPublisher> _logger;
    private readonly InvalidatorMetrics _metrics;
    private readonly WorkerStatus _status;

    public DeadLetterPublisher(IOptions<InvalidatorOptions> options, ILogger<DeadLetterPublisher> logger, InvalidatorMetrics metrics, WorkerStatus status)
    {
        var settings = options.Value;
        Topic = settings.DeadLetter.Topic;
        _logger = logger;
        _metrics = metrics;
        _status = status;
        var config = new ProducerConfig
        {
            BootstrapServers = settings.Kafka.BootstrapServers,
            Acks = Acks.All,
            EnableIdempotence = true,
            ClientId = "invalidator-dead-letters",
        };
        foreach (var (key, value) in settings.Kafka.Producer)
        {
            config.Set(key, value);
        }

        _producer = new ProducerBuilder<byte[]?, byte[]?>(config).Build();
    }

    public string Topic { get; }

    /// <summary>Writes a record that could not be decoded or planned; returns once the broker has it, throws if it could not.</summary>
    public async Task PublishPoisonAsync(ConsumeResult<byte[]?, byte[]?> record, string reason, CancellationToken cancellationToken)
    {
        var headers = new Headers();
        if (record.Message.Headers is { } original)
        {
            foreach (var header in original)
            {
                headers.Add(header.Key, header.GetValueBytes());
            }
        }

        headers.Add(KindHeader, Encoding.UTF8.GetBytes("poison"));
        headers.Add(ReasonHeader, Encoding.UTF8.GetBytes(reason));
        headers.Add(SourceTopicHeader, Encoding.UTF8.GetBytes(record.Topic));
        headers.Add(SourcePartitionHeader, Encoding.UTF8.GetBytes(record.Partition.Value.ToString(CultureInfo.InvariantCulture)));
        headers.Add(SourceOffsetHeader, Encoding.UTF8.GetBytes(record.Offset.Value.ToString(CultureInfo.InvariantCulture)));
        try
        {
            await _producer.ProduceAsync(
                Topic,
                new Message<byte[]?, byte[]?> { Key = record.Message.Key, Value = record.Message.Value, Headers = headers, Timestamp = record.Message.Timestamp },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is KafkaException)
        {
            Log.DeadLetterWriteFailed(_logger, Topic, ex);
            throw;
        }

        _metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", "poison"), new KeyValuePair<string, object?>("region", ""));
        _status.DeadLettered("poison", "", $"{record.Topic}[{record.Partition.Value}]@{record.Offset.Value}: {reason}");
        Log.RecordDeadLettered(_logger, record.Topic, record.Partition.Value, record.Offset.Value, reason);
    }

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}
