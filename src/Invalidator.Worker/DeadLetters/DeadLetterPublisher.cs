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
internal sealed class DeadLetterPublisher : IRegionDeadLetterSink, IDisposable
{
    public const string ReasonHeader = "invalidator.reason";
    public const string KindHeader = "invalidator.kind";
    public const string SourceTopicHeader = "invalidator.source.topic";
    public const string SourcePartitionHeader = "invalidator.source.partition";
    public const string SourceOffsetHeader = "invalidator.source.offset";
    public const string RegionHeader = "invalidator.region";
    public const string PoisonKind = "poison";

    private readonly IProducer<byte[]?, byte[]?> _producer;
    private readonly ILogger<DeadLetterPublisher> _logger;
    private readonly InvalidatorMetrics _metrics;
    private int _disposed;
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
            // Poison records are kept whole, oversized ones included.
            MessageMaxBytes = 64 * 1024 * 1024,
        };
        foreach (var (key, value) in settings.Kafka.Producer)
        {
            config.Set(key, value);
        }

        var kafkaErrors = new KafkaErrorLog(logger, TimeProvider.System);
        _producer = new ProducerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, error) => kafkaErrors.Report(error))
            .SetLogHandler((_, message) => kafkaErrors.Trace(message))
            .Build();
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

        headers.Add(KindHeader, Encoding.UTF8.GetBytes(PoisonKind));
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

        _metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", PoisonKind), new KeyValuePair<string, object?>("region", ""));
        _status.DeadLettered(PoisonKind, "", $"{record.Topic}[{record.Partition.Value}]@{record.Offset.Value}: {reason}");
        Log.RecordDeadLettered(_logger, record.Topic, record.Partition.Value, record.Offset.Value, reason);
    }

    /// <summary>Writes one region's unapplied invalidations (keyed by region); returns once the broker has it.</summary>
    public async Task WriteAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        var headers = new Headers
        {
            { KindHeader, Encoding.UTF8.GetBytes(RegionDeadLetter.Kind) },
            { RegionHeader, Encoding.UTF8.GetBytes(letter.Region) },
            { ReasonHeader, Encoding.UTF8.GetBytes(letter.Reason) },
        };
        try
        {
            await _producer.ProduceAsync(
                Topic,
                new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(letter.Region), Value = letter.ToJson(), Headers = headers },
                cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is KafkaException)
        {
            Log.DeadLetterWriteFailed(_logger, Topic, ex);
            throw;
        }

        _metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", RegionDeadLetter.Kind), new KeyValuePair<string, object?>("region", letter.Region));
        _status.DeadLettered(RegionDeadLetter.Kind, letter.Region, $"{letter.Keys.Count} keys, {letter.Tags.Count} tags: {letter.Reason}");
    }

    // Registered under two service types, so the container disposes it twice.
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _producer.Flush(TimeSpan.FromSeconds(5));
            _producer.Dispose();
        }
    }
}
