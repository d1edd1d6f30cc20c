using System.Globalization;
using System.Text;
using Confluent.Kafka;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Kafka mode's dead-letter writer: the producer of the topic <c>Invalidator:DeadLetter:Topic</c>. Poison records are
/// written unchanged with headers that say why and where they came from; a region letter is JSON keyed by its region.
/// A write counts only once the broker acknowledged it (acks=all, idempotent), so the source may then acknowledge.
/// </summary>
internal sealed class KafkaDeadLetterWriter : IDeadLetterWriter, IDisposable
{
    private readonly InvalidatorOptions _options;
    private readonly ILogger<KafkaDeadLetterWriter> _logger;
    private readonly TimeProvider _time;
    private readonly Lazy<IProducer<byte[]?, byte[]?>> _producer;
    private int _disposed;

    public KafkaDeadLetterWriter(IOptions<InvalidatorOptions> options, ILogger<KafkaDeadLetterWriter> logger, TimeProvider time)
    {
        _options = options.Value;
        _logger = logger;
        _time = time;
        Topic = _options.DeadLetter.Topic;
        Name = $"topic {Topic}";
        _producer = new Lazy<IProducer<byte[]?, byte[]?>>(BuildProducer);
    }

    public string Topic { get; }

    public string Name { get; }

    public async Task WritePoisonAsync(PoisonRecord poison, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(poison);
        poison = _options.DeadLetter.Redact ? poison.Redacted() : poison;
        var headers = new Headers();
        Message<byte[]?, byte[]?> message;
        switch (poison.Content)
        {
            case RawRecordContent raw:
                foreach (var (name, value) in raw.Headers)
                {
                    headers.Add(name, value);
                }

                message = new Message<byte[]?, byte[]?>
                {
                    Key = raw.Key,
                    Value = raw.Value,
                    Timestamp = raw.Timestamp is { } at ? new Timestamp(at) : Timestamp.Default,
                };
                break;
            case ChangeContent change:
                headers.Add(DeadLetterKinds.FormatHeader, Encoding.UTF8.GetBytes(DeadLetterKinds.ChangeFormat));
                message = new Message<byte[]?, byte[]?> { Value = Encoding.UTF8.GetBytes(ChangeEventJson.Write(change.Change, poison.PositionText)) };
                break;
            default:
                throw new ArgumentException($"Unknown poison content {poison.Content.GetType().Name}", nameof(poison));
        }

        headers.Add(DeadLetterKinds.KindHeader, Encoding.UTF8.GetBytes(DeadLetterKinds.Poison));
        headers.Add(DeadLetterKinds.ReasonHeader, Encoding.UTF8.GetBytes(poison.Reason));
        headers.Add(DeadLetterKinds.SourceTopicHeader, Encoding.UTF8.GetBytes(poison.Partition.Source));
        headers.Add(DeadLetterKinds.SourcePartitionHeader, Encoding.UTF8.GetBytes(poison.Partition.Partition.ToString(CultureInfo.InvariantCulture)));
        headers.Add(DeadLetterKinds.SourceOffsetHeader, Encoding.UTF8.GetBytes(poison.Position.ToString(CultureInfo.InvariantCulture)));
        if (poison.Content.Redacted)
        {
            headers.Add(DeadLetterKinds.RedactedHeader, "true"u8.ToArray());
        }

        message.Headers = headers;
        try
        {
            await _producer.Value.ProduceAsync(Topic, message, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException ex) when (IsTooLarge(ex.Error))
        {
            await WriteReferenceAsync(poison, message, ex.Error, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A poison record larger than the topic accepts: a small letter in its place, with where the record is
    /// (source topic, partition, offset) and why, so nothing is retried forever and the record can still be found.
    /// </summary>
    private async Task WriteReferenceAsync(PoisonRecord poison, Message<byte[]?, byte[]?> refused, Error error, CancellationToken cancellationToken)
    {
        var bytes = (refused.Key?.LongLength ?? 0) + (refused.Value?.LongLength ?? 0);
        var where = $"{poison.Partition.Source}[{poison.Partition.Partition}]@{poison.Position}";
        Log.DeadLetterTooLarge(_logger, DeadLetterKinds.Poison, bytes, Topic, error.Code.ToString(), $"stored as a reference to {where}");
        var reason = $"{poison.Reason} The record ({bytes} bytes) is larger than the dead-letter topic accepts ({error.Code}): " +
            $"this letter only refers to it; read it at {where} while that topic retains it.";
        var headers = new Headers
        {
            { DeadLetterKinds.KindHeader, Encoding.UTF8.GetBytes(DeadLetterKinds.Poison) },
            { DeadLetterKinds.ReasonHeader, Encoding.UTF8.GetBytes(reason) },
            { DeadLetterKinds.SourceTopicHeader, Encoding.UTF8.GetBytes(poison.Partition.Source) },
            { DeadLetterKinds.SourcePartitionHeader, Encoding.UTF8.GetBytes(poison.Partition.Partition.ToString(CultureInfo.InvariantCulture)) },
            { DeadLetterKinds.SourceOffsetHeader, Encoding.UTF8.GetBytes(poison.Position.ToString(CultureInfo.InvariantCulture)) },
            { DeadLetterKinds.ReferenceHeader, "true"u8.ToArray() },
        };
        await _producer.Value.ProduceAsync(Topic, new Message<byte[]?, byte[]?> { Headers = headers }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The letter is larger than the broker (or the producer's <c>message.max.bytes</c>) accepts: no retry will change that.</summary>
    internal static bool IsTooLarge(Error error) => error.Code == ErrorCode.MsgSizeTooLarge;

    public async Task WriteRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        try
        {
            await ProduceRegionLetterAsync(letter, cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException ex) when (IsTooLarge(ex.Error))
        {
            await WriteSplitAsync(letter, ex.Error, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// A region letter larger than the topic accepts is split: its names in two letters (each split again while still
    /// too large), so every name is kept and redriven. A single name that is still too large cannot be split: it is
    /// stored as a poison letter with the reason (lower <c>Invalidator:Rules:MaxKeyBytes</c> under the topic's limit).
    /// </summary>
    private async Task WriteSplitAsync(RegionDeadLetter letter, Error error, CancellationToken cancellationToken)
    {
        var names = letter.Keys.Select(k => (Tag: false, Name: k)).Concat(letter.Tags.Select(t => (Tag: true, Name: t))).ToList();
        var bytes = names.Sum(n => (long)Encoding.UTF8.GetByteCount(n.Name));
        if (names.Count <= 1)
        {
            Log.DeadLetterTooLarge(_logger, DeadLetterKinds.Region, bytes, Topic, error.Code.ToString(), "one name cannot be split: stored as a poison letter");
            var reason = $"A region letter for {letter.Region} holds one name of {bytes} bytes, larger than the dead-letter topic accepts ({error.Code}); " +
                $"it cannot be redriven. Lower Invalidator:Rules:MaxKeyBytes under the topic's max.message.bytes. The letter's reason: {letter.Reason}";
            var headers = new Headers
            {
                { DeadLetterKinds.KindHeader, Encoding.UTF8.GetBytes(DeadLetterKinds.Poison) },
                { DeadLetterKinds.RegionHeader, Encoding.UTF8.GetBytes(letter.Region) },
                { DeadLetterKinds.ReasonHeader, Encoding.UTF8.GetBytes(reason) },
                { DeadLetterKinds.ReferenceHeader, "true"u8.ToArray() },
            };
            await _producer.Value.ProduceAsync(Topic, new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(letter.Region), Headers = headers }, cancellationToken)
                .ConfigureAwait(false);
            return;
        }

        Log.DeadLetterTooLarge(_logger, DeadLetterKinds.Region, bytes, Topic, error.Code.ToString(), $"its {names.Count} names are split into two letters");
        var half = names.Count / 2;
        foreach (var part in new[] { names[..half], names[half..] })
        {
            var piece = letter with
            {
                Keys = part.Where(n => !n.Tag).Select(n => n.Name).ToList(),
                Tags = part.Where(n => n.Tag).Select(n => n.Name).ToList(),
            };
            await WriteRegionLetterAsync(piece, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task ProduceRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        var headers = new Headers
        {
            { DeadLetterKinds.KindHeader, Encoding.UTF8.GetBytes(DeadLetterKinds.Region) },
            { DeadLetterKinds.RegionHeader, Encoding.UTF8.GetBytes(letter.Region) },
            { DeadLetterKinds.ReasonHeader, Encoding.UTF8.GetBytes(letter.Reason) },
        };
        await _producer.Value.ProduceAsync(
            Topic,
            new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(letter.Region), Value = letter.ToJson(), Headers = headers },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// A region's poison letter: keyed by its region like a region letter, but of kind poison (every redrive group passes
    /// it over) with the format header <c>region-names</c>; <c>dlq replay</c> re-applies it to its region.
    /// </summary>
    public async Task WriteRegionPoisonAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var source = letter.Sources.Count > 0 ? letter.Sources[0] : null;
        var headers = new Headers
        {
            { DeadLetterKinds.KindHeader, Encoding.UTF8.GetBytes(DeadLetterKinds.Poison) },
            { DeadLetterKinds.FormatHeader, Encoding.UTF8.GetBytes(DeadLetterKinds.RegionNamesFormat) },
            { DeadLetterKinds.RegionHeader, Encoding.UTF8.GetBytes(letter.Region) },
            { DeadLetterKinds.ReasonHeader, Encoding.UTF8.GetBytes(letter.Reason) },
        };
        if (source is not null)
        {
            headers.Add(DeadLetterKinds.SourceTopicHeader, Encoding.UTF8.GetBytes(source.Source));
            headers.Add(DeadLetterKinds.SourcePartitionHeader, Encoding.UTF8.GetBytes(source.Partition.ToString(CultureInfo.InvariantCulture)));
            headers.Add(DeadLetterKinds.SourceOffsetHeader, Encoding.UTF8.GetBytes(source.From.ToString(CultureInfo.InvariantCulture)));
        }

        await _producer.Value.ProduceAsync(
            Topic,
            new Message<byte[]?, byte[]?> { Key = Encoding.UTF8.GetBytes(letter.Region), Value = letter.ToJson(DeadLetterKinds.Poison), Headers = headers },
            cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Creates the producer now, not at the first letter, and checks with its settings that the topic can be written:
    /// brokers reachable and authenticating, the topic not refused. Throws <see cref="DeadLetterTopicException"/>
    /// with the fix. An absent topic is fine: the first letter creates it where the brokers auto-create topics.
    /// </summary>
    public async Task CheckAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        _ = _producer.Value;
        var kafka = _options.Kafka;
        using var admin = new AdminClientBuilder(DeadLetterProducerSettings.BuildCheck(kafka)).SetLogHandler((_, _) => { }).Build();
        Metadata metadata;
        try
        {
            metadata = await Task.Run(() => admin.GetMetadata(Topic, timeout), cancellationToken).ConfigureAwait(false);
        }
        catch (KafkaException ex)
        {
            throw new DeadLetterTopicException(
                $"The dead-letter producer cannot reach Kafka at {kafka.BootstrapServers} within {timeout.TotalSeconds:0} s ({ex.Error.Reason}). " +
                "It reaches the brokers with the consumer's security.protocol, sasl.* and ssl.* settings unless Invalidator:Kafka:Producer " +
                "gives its own: check those and Invalidator:Kafka:Producer:bootstrap.servers if set.",
                ExitCodes.Failure);
        }

        var topic = metadata.Topics.FirstOrDefault(t => t.Topic == Topic);
        switch (topic?.Error.Code)
        {
            case ErrorCode.TopicAuthorizationFailed or ErrorCode.ClusterAuthorizationFailed:
                throw new DeadLetterTopicException(
                    $"The worker is not authorized to use the dead-letter topic {Topic} (Invalidator:DeadLetter:Topic): {topic.Error.Reason}. " +
                    $"Grant its principal WRITE and DESCRIBE on topic {Topic} (and READ for the redrive's groups {kafka.GroupId}.redrive.*), " +
                    "or set Invalidator:Kafka:Producer:sasl.* to a principal that has them.",
                    ExitCodes.ConfigurationError);
            case null or ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic:
                Log.DeadLetterProducerReady(_logger, Topic,
                    "the topic does not exist yet; the first letter creates it where the brokers auto-create topics, else create it (set its retention.ms to Invalidator:DeadLetter:Retention)");
                break;
            default:
                Log.DeadLetterProducerReady(_logger, Topic, topic.Error.IsError ? $"the topic answers {topic.Error.Code}, retried at the first letter" : $"{topic.Partitions.Count} partitions");
                break;
        }
    }

    private IProducer<byte[]?, byte[]?> BuildProducer()
    {
        var config = DeadLetterProducerSettings.Build(_options.Kafka);
        var kafkaErrors = new KafkaErrorLog(_logger, _time);
        return new ProducerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, error) => kafkaErrors.Report(error))
            .SetLogHandler((_, message) => kafkaErrors.Trace(message))
            .Build();
    }

    // Registered under two service types, so the container disposes it twice.
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _producer.IsValueCreated)
        {
            _producer.Value.Flush(TimeSpan.FromSeconds(5));
            _producer.Value.Dispose();
        }
    }
}

/// <summary>The dead-letter topic cannot be used at start: the message says what to fix, <see cref="ExitCode"/> how the worker ends.</summary>
internal sealed class DeadLetterTopicException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
