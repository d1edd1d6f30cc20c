using Confluent.Kafka;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Reads Debezium topics for the <see cref="SourceRunner"/>, which batches and invalidates them, consuming and planning
/// the next batch while earlier ones are applied (at most <c>Invalidator:Batching:MaxInFlight</c> at once). What only
/// this source knows: the consumer, its group's assignments, a record's dead letter, and storing an offset.
///
/// Delivery guarantee: at-least-once. An offset is stored (and then committed from the store) only when the
/// <see cref="AcknowledgementTracker"/> says so: after every region applied (or durably dead-lettered) the deletes
/// of all records of that partition before it, and any poison record among them is on the dead-letter topic. A
/// crash, a revocation or a shutdown mid-batch leaves the batch unacknowledged, so it is read again; repeating a
/// delete is harmless.
/// </summary>
internal sealed class KafkaChangeSource : ChangeSourceService
{
    private const string StatusName = "kafka";

    private readonly KafkaErrorLog _kafkaErrors;
    private readonly IDeadLetterWriter? _deadLetters;
    private IConsumer<KeyKept?, PlannedMessage>? _consumer;
    private volatile Error? _fatalError;

    public KafkaChangeSource(SourceHost host, ILogger<KafkaChangeSource> logger, IDeadLetterWriter? deadLetters = null)
        : base(StatusName, host, logger)
    {
        _deadLetters = deadLetters;
        _kafkaErrors = new KafkaErrorLog(logger, host.Time);
    }

    protected override async Task<bool> OpenAsync(CancellationToken stoppingToken)
    {
        var kafka = Options.Kafka;
        try
        {
            // Before any consumer exists: closing a consumer that never reached a broker can block for long.
            await KafkaBrokers.CheckAsync(kafka, stoppingToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException ex)
        {
            Log.BrokersUnreachable(Logger, ex.Message);
            Exit.Fail(ex.Message);
            return false;
        }

        try
        {
            // The dead-letter producer exists and reaches its topic before the first record: a letter must never be
            // the first to find out that the topic cannot be written.
            if (_deadLetters is KafkaDeadLetterWriter deadLetters)
            {
                await deadLetters.CheckAsync(kafka.StartupTimeout, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (DeadLetterTopicException ex)
        {
            Log.DeadLetterTopicUnusable(Logger, ex.Message);
            Exit.Fail(ex.Message, ex.ExitCode);
            return false;
        }

        var deserializer = new PlanningDeserializer(Runner.Open);
        var config = KafkaConsumerSettings.Build(kafka);
        var reset = StartPositions.ResetOffset(config.Get("auto.offset.reset"));
        _consumer = new ConsumerBuilder<KeyKept?, PlannedMessage>(config)
            .SetKeyDeserializer(deserializer)
            .SetValueDeserializer(deserializer)
            .SetErrorHandler(OnError)
            .SetLogHandler((_, message) => _kafkaErrors.Trace(message))
            .SetOffsetsCommittedHandler((_, committed) =>
            {
                // A failed commit loses nothing: the offsets stay stored and the next commit carries them.
                if (committed.Error.IsError)
                {
                    Log.CommitFailed(Logger, committed.Error.Code.ToString(), committed.Error.Reason);
                }
            })
            // Keeps the JSON only (this runs inside Consume()); it is parsed when lag is read.
            .SetStatisticsHandler((_, json) => Events.Publish(new ConsumerStatisticsReported(json)))
            .SetPartitionsAssignedHandler((consumer, partitions) =>
            {
                Log.PartitionsAssigned(Logger, string.Join(", ", partitions));
                Events.Publish(new PartitionsAssigned(partitions.Select(p => new SourcePartition(p.Topic, p.Partition.Value))));
                return StartPositions.For(consumer, partitions, reset);
            })
            .SetPartitionsRevokedHandler((_, partitions) =>
                Log.PartitionsRevoked(Logger, string.Join(", ", partitions), Drop(partitions.Select(p => p.TopicPartition))))
            .SetPartitionsLostHandler((_, partitions) =>
                Log.PartitionsLost(Logger, string.Join(", ", partitions), Drop(partitions.Select(p => p.TopicPartition))))
            .Build();

        var subscription = KafkaConsumerSettings.Subscription(kafka);
        Log.ConsumerStarting(Logger, string.Join(", ", subscription), kafka.GroupId, kafka.BootstrapServers);
        _consumer.Subscribe(subscription);
        return true;
    }

    protected override ValueTask CloseAsync()
    {
        if (_consumer is { } consumer)
        {
            if (_fatalError is null)
            {
                // Commits what is stored (finished work only) and leaves the group promptly.
                consumer.Close();
                Log.ConsumerClosed(Logger);
            }

            consumer.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    /// <summary>The next record, planned into the open batch as <c>Consume</c> deserialized it (<see cref="PlanningDeserializer"/>).</summary>
    public override ValueTask<SourceRead> ReadAsync(TimeSpan wait, Task wake, CancellationToken cancellationToken)
    {
        if (_fatalError is not null)
        {
            return ValueTask.FromResult(SourceRead.Stop);
        }

        ConsumeResult<KeyKept?, PlannedMessage>? record;
        try
        {
            record = _consumer!.Consume(wait);
        }
        catch (ConsumeException ex) when (!ex.Error.IsFatal && Undeserializable(ex) is { } raw)
        {
            // A deserializer threw (Confluent wraps its exception): librdkafka has moved past the record, so the next
            // stored offset would commit past it. It is poison like any other: dead-lettered raw, with the reason.
            var planned = Runner.Open.Poison(raw.Topic, RecordIntake.UnexpectedReason(ex.InnerException ?? ex));
            return ValueTask.FromResult(Read(raw.TopicPartitionOffset, planned, raw.Message.Key, raw.Message.Value, raw.Message.Headers, raw.Message.Timestamp));
        }
        catch (ConsumeException ex) when (!ex.Error.IsFatal)
        {
            // A failed fetch (leader moved, request timed out) is retried by librdkafka from the same offset.
            _kafkaErrors.Report(ex.Error);
            return ValueTask.FromResult(SourceRead.Nothing);
        }

        if (record is null || record.IsPartitionEOF)
        {
            return ValueTask.FromResult(SourceRead.Nothing);
        }

        var message = record.Message;
        var value = message.Value;
        return ValueTask.FromResult(Read(record.TopicPartitionOffset, value.Planned, value.PoisonKey, value.PoisonValue, message.Headers, message.Timestamp));
    }

    /// <summary>The raw record of a <see cref="ConsumeException"/> that a deserializer caused; null for any other consume error.</summary>
    internal static ConsumeResult<byte[], byte[]>? Undeserializable(ConsumeException exception) =>
        exception.Error.Code is ErrorCode.Local_KeyDeserialization or ErrorCode.Local_ValueDeserialization
            && exception.ConsumerRecord is { Message: not null, TopicPartitionOffset: not null } raw
                ? raw
                : null;

    /// <summary>A planned record's position, with its dead letter (the record as the broker delivered it) if it is poison.</summary>
    private static SourceRead Read(TopicPartitionOffset at, PlannedRecord planned, byte[]? key, byte[]? value, Headers? headers, Timestamp timestamp)
    {
        var partition = new SourcePartition(at.Topic, at.Partition.Value);
        var offset = at.Offset.Value;
        var poison = planned.IsPoison
            ? new PoisonRecord(
                partition,
                offset,
                $"{at.Topic}[{partition.Partition}]@{offset}",
                planned.PoisonReason!,
                new RawRecordContent(
                    at.Topic,
                    key,
                    value,
                    headers?.Select(h => KeyValuePair.Create(h.Key, h.GetValueBytes())).ToList() ?? [],
                    timestamp.Type == TimestampType.NotAvailable ? null : new DateTimeOffset(timestamp.UtcDateTime)))
            : null;
        return SourceRead.Record(partition, offset, offset + 1, planned.CommitTime, poison);
    }

    /// <summary>
    /// Forgets partitions this consumer no longer owns (inside <c>Consume</c>, on the runner's loop): their unfinished
    /// records will be re-read by the new owner, so their offsets must not be stored. Returns how many of them had
    /// unacknowledged work.
    /// </summary>
    private int Drop(IEnumerable<TopicPartition> partitions)
    {
        var keys = partitions.Select(p => new SourcePartition(p.Topic, p.Partition.Value)).ToList();
        Events.Publish(new PartitionsRevoked(keys));
        return Runner.Drop(keys);
    }

    /// <summary>The tracker's acknowledgement: store the next offset to read (auto-commit sends it).</summary>
    public override void Acknowledge(AcknowledgedPosition position)
    {
        if (_fatalError is not null || _consumer is not { } consumer)
        {
            return; // an unusable consumer commits nothing more
        }

        var offset = new TopicPartitionOffset(position.Partition.Source, new Partition(position.Partition.Partition), new Offset(position.Position));
        try
        {
            consumer.StoreOffset(offset);
        }
        catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
        {
            // The partition was taken away meanwhile: its new owner re-reads these records.
            Log.OffsetStoreFailed(Logger, offset.ToString(), ex.Error.Reason);
        }
    }

    private void OnError(IConsumer<KeyKept?, PlannedMessage> consumer, Error error)
    {
        if (error.IsFatal)
        {
            // A fatal error leaves the consumer unusable: end the process so an orchestrator restarts it,
            // rather than keep a live process that consumes nothing.
            Log.KafkaFatalError(Logger, error.Code.ToString(), error.Reason);
            _fatalError = error;
            Exit.Fail($"fatal Kafka error {error.Code}: {error.Reason}");
            return;
        }

        _kafkaErrors.Report(error);
    }
}
