using Confluent.Kafka;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Reads Debezium topics and invalidates in batches, consuming and planning the next batch while earlier ones are
/// applied (at most <c>Invalidator:Batching:MaxInFlight</c> at once).
///
/// Delivery guarantee: at-least-once. An offset is stored (and then committed from the store) only when the
/// <see cref="AcknowledgementTracker"/> says so: after every region applied (or durably dead-lettered) the deletes
/// of all records of that partition before it, and any poison record among them is on the dead-letter topic. A
/// crash, a revocation or a shutdown mid-batch leaves the batch unacknowledged, so it is read again; repeating a
/// delete is harmless.
/// </summary>
internal sealed class KafkaChangeSource : BackgroundService
{
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);
    private const string StatusName = "kafka";
    private const int LoopTickRecords = 256;

    private readonly InvalidatorOptions _options;
    private readonly ChangeRecordPlanner _planner;
    private readonly BatchApplier _applier;
    private readonly WorkerExit _exit;
    private readonly ILogger<KafkaChangeSource> _logger;
    private readonly TimeProvider _time;
    private readonly WorkerEvents _events;
    private readonly KafkaErrorLog _kafkaErrors;
    private readonly IDeadLetterWriter? _deadLetters;
    private SourceBatch _open = new();
    private PlanningDeserializer? _deserializer;
    private volatile Error? _fatalError;

    public KafkaChangeSource(
        IOptions<InvalidatorOptions> options,
        ChangeRecordPlanner planner,
        BatchApplier applier,
        WorkerExit exit,
        ILogger<KafkaChangeSource> logger,
        TimeProvider time,
        WorkerEvents events,
        IDeadLetterWriter? deadLetters = null)
    {
        _deadLetters = deadLetters;
        _options = options.Value;
        _planner = planner;
        _applier = applier;
        _exit = exit;
        _logger = logger;
        _time = time;
        _kafkaErrors = new KafkaErrorLog(logger, time);
        _events = events;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        // Consume() blocks: keep it off the thread that starts the host.
        Task.Run(() => RunAsync(stoppingToken), CancellationToken.None);

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var kafka = _options.Kafka;
        try
        {
            // Before any consumer exists: closing a consumer that never reached a broker can block for long.
            await CheckBrokersAsync(kafka, stoppingToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException ex)
        {
            Log.BrokersUnreachable(_logger, ex.Message);
            _exit.Fail(ex.Message);
            return;
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
            Log.DeadLetterTopicUnusable(_logger, ex.Message);
            _exit.Fail(ex.Message, ex.ExitCode);
            return;
        }

        IConsumer<KeyKept?, PlannedRecord>? consumer = null;
        var tracker = new AcknowledgementTracker(_options.Batching.MaxInFlight, position => Store(consumer!, position));
        var pipeline = new BatchPipeline(_applier, tracker, _time);
        _deserializer = new PlanningDeserializer(_planner, () => _open, _options.DeadLetter.MaxRecordBytes);
        consumer = new ConsumerBuilder<KeyKept?, PlannedRecord>(KafkaConsumerSettings.Build(kafka))
            .SetKeyDeserializer(_deserializer)
            .SetValueDeserializer(_deserializer)
            .SetErrorHandler(OnError)
            .SetLogHandler((_, message) => _kafkaErrors.Trace(message))
            .SetOffsetsCommittedHandler((_, committed) =>
            {
                // A failed commit loses nothing: the offsets stay stored and the next commit carries them.
                if (committed.Error.IsError)
                {
                    Log.CommitFailed(_logger, committed.Error.Code.ToString(), committed.Error.Reason);
                }
            })
            // Keeps the JSON only (this runs inside Consume()); it is parsed when lag is read.
            .SetStatisticsHandler((_, json) => _events.Publish(new ConsumerStatisticsReported(json)))
            .SetPartitionsAssignedHandler((_, partitions) =>
            {
                Log.PartitionsAssigned(_logger, string.Join(", ", partitions));
                _events.Publish(new PartitionsAssigned(partitions.Select(p => new SourcePartition(p.Topic, p.Partition.Value))));
            })
            .SetPartitionsRevokedHandler((_, partitions) =>
                Log.PartitionsRevoked(_logger, string.Join(", ", partitions), Drop(tracker, partitions.Select(p => p.TopicPartition))))
            .SetPartitionsLostHandler((_, partitions) =>
                Log.PartitionsLost(_logger, string.Join(", ", partitions), Drop(tracker, partitions.Select(p => p.TopicPartition))))
            .Build();

        try
        {
            var subscription = KafkaConsumerSettings.Subscription(kafka);
            Log.ConsumerStarting(_logger, string.Join(", ", subscription), kafka.GroupId, kafka.BootstrapServers);
            consumer.Subscribe(subscription);
            await ConsumeAsync(consumer, pipeline, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: what is unfinished is not acknowledged and will be read again.
        }
        catch (Exception ex)
        {
            Log.WorkerCrashed(_logger, ex);
            _exit.Fail(ex.Message);
            throw;
        }
        finally
        {
            _events.Publish(new ConsumeLoopStopped(StatusName, _exit.Reason ?? (stoppingToken.IsCancellationRequested ? "shutting down" : "ended")));
            // Work in flight is cut short and stays unacknowledged; only then may the consumer go.
            await pipeline.AbandonAsync().ConfigureAwait(false);
            tracker.Close();
            _open = new SourceBatch();
            if (_fatalError is null)
            {
                // Commits what is stored (finished work only) and leaves the group promptly.
                consumer.Close();
                Log.ConsumerClosed(_logger);
            }

            consumer.Dispose();
        }
    }

    /// <summary>
    /// Fails the start with a clear message when no broker answers: librdkafka would otherwise retry quietly
    /// forever and leave a process that looks alive but consumes nothing.
    /// </summary>
    private static async Task CheckBrokersAsync(KafkaOptions kafka, CancellationToken stoppingToken)
    {
        var config = KafkaConsumerSettings.BuildAdmin(kafka);
        using var admin = new AdminClientBuilder(config).SetLogHandler((_, _) => { }).Build();
        try
        {
            await Task.Run(() => admin.GetMetadata(kafka.StartupTimeout), stoppingToken).ConfigureAwait(false);
        }
        catch (KafkaException ex)
        {
            throw new InvalidOperationException(
                $"Cannot reach Kafka at {kafka.BootstrapServers} within {kafka.StartupTimeout.TotalSeconds:0} s ({ex.Error.Reason}). " +
                "Check Invalidator:Kafka:BootstrapServers and that the brokers are up.",
                ex);
        }
    }

    /// <summary>Consumes and plans into the open batch, handing it to the pipeline whenever <see cref="BatchFill"/> says it is due.</summary>
    private async Task ConsumeAsync(IConsumer<KeyKept?, PlannedRecord> consumer, BatchPipeline pipeline, CancellationToken stoppingToken)
    {
        var tracker = pipeline.Tracker;
        var fill = new BatchFill(_options.Batching, _time);
        var sinceTick = 0;
        while (!stoppingToken.IsCancellationRequested && _fatalError is null)
        {
            // The liveness tick reads the clock: once per many records is plenty (the timeout is minutes).
            if (++sinceTick >= LoopTickRecords || _open.RecordCount == 0)
            {
                _events.Publish(new ConsumeLoopTicked(StatusName));
                sinceTick = 0;
            }

            tracker.ThrowIfFaulted();
            if (fill.IsDue(_open.RecordCount, recordReady: true, tracker.InFlight, tracker.HasRoom))
            {
                await SubmitAsync(pipeline, fill, stoppingToken).ConfigureAwait(false);
                continue;
            }

            ConsumeResult<KeyKept?, PlannedRecord>? record;
            try
            {
                record = consumer.Consume(fill.PollTimeout(_open.RecordCount, tracker.InFlight, tracker.HasRoom, IdlePoll));
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal && Undeserializable(ex) is { } raw)
            {
                // A deserializer threw (Confluent wraps its exception): librdkafka has moved past the record, so the next
                // stored offset would commit past it. It is poison like any other: dead-lettered raw, with the reason.
                TrackUndeserializable(raw, ex);
                fill.Added();
                continue;
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal)
            {
                // A failed fetch (leader moved, request timed out) is retried by librdkafka from the same offset.
                _kafkaErrors.Report(ex.Error);
                continue;
            }

            if (record is null || record.IsPartitionEOF)
            {
                if (fill.IsDue(_open.RecordCount, recordReady: false, tracker.InFlight, tracker.HasRoom))
                {
                    await SubmitAsync(pipeline, fill, stoppingToken).ConfigureAwait(false);
                }

                continue;
            }

            Track(record);
            fill.Added();
        }
    }

    /// <summary>The record was planned into the open batch as Consume deserialized it: track its position (and dead-letter it if poison).</summary>
    private void Track(ConsumeResult<KeyKept?, PlannedRecord> record)
    {
        var planned = record.Message.Value;
        var (key, value) = planned.IsPoison ? _deserializer!.LastPoison : default;
        Track(record.TopicPartitionOffset, record.Message.Headers, record.Message.Timestamp, planned, key, value);
    }

    /// <summary>The raw record of a <see cref="ConsumeException"/> that a deserializer caused; null for any other consume error.</summary>
    internal static ConsumeResult<byte[], byte[]>? Undeserializable(ConsumeException exception) =>
        exception.Error.Code is ErrorCode.Local_KeyDeserialization or ErrorCode.Local_ValueDeserialization
            && exception.ConsumerRecord is { Message: not null, TopicPartitionOffset: not null } raw
                ? raw
                : null;

    /// <summary>A record whose deserializer threw: tracked like any record, as poison with the exception as its reason.</summary>
    private void TrackUndeserializable(ConsumeResult<byte[], byte[]> raw, ConsumeException exception)
    {
        var planned = _planner.Poison(raw.Topic, ChangeRecordPlanner.UnexpectedReason(exception.InnerException ?? exception));
        Track(raw.TopicPartitionOffset, raw.Message.Headers, raw.Message.Timestamp, planned, raw.Message.Key, raw.Message.Value);
    }

    private void Track(TopicPartitionOffset at, Headers? headers, Timestamp timestamp, PlannedRecord planned, byte[]? key, byte[]? value)
    {
        var partition = at.Partition.Value;
        var offset = at.Offset.Value;
        if (planned.IsPoison)
        {
            _open.AddPoison(new PoisonRecord(
                new SourcePartition(at.Topic, partition),
                offset,
                $"{at.Topic}[{partition}]@{offset}",
                planned.PoisonReason!,
                new RawRecordContent(
                    at.Topic,
                    key,
                    value,
                    headers?.Select(h => KeyValuePair.Create(h.Key, h.GetValueBytes())).ToList() ?? [],
                    timestamp.Type == TimestampType.NotAvailable ? null : new DateTimeOffset(timestamp.UtcDateTime))));
        }

        _open.Track(at.Topic, partition, offset, offset + 1, planned.CommitTime);
    }

    /// <summary>Hands the open batch to the pipeline (which waits for a free slot) and starts a new one.</summary>
    private async Task SubmitAsync(BatchPipeline pipeline, BatchFill fill, CancellationToken stoppingToken)
    {
        var batch = _open;
        _open = pipeline.NewBatch();
        fill.Reset();
        await pipeline.SubmitAsync(batch, () => _events.Publish(new ConsumeLoopTicked(StatusName)), stoppingToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Forgets partitions this consumer no longer owns: their unfinished records will be re-read by the new owner,
    /// so their offsets must not be stored. Their keys may stay in the open batch (a repeated delete is harmless).
    /// Returns how many of them had unacknowledged work.
    /// </summary>
    private int Drop(AcknowledgementTracker tracker, IEnumerable<TopicPartition> partitions)
    {
        var keys = partitions.Select(p => new SourcePartition(p.Topic, p.Partition.Value)).ToList();
        _events.Publish(new PartitionsRevoked(keys));
        var inOpenBatch = keys.Count(_open.Forget);
        return Math.Max(tracker.Drop(keys), inOpenBatch);
    }

    /// <summary>The tracker's acknowledgement: store the next offset to read (auto-commit sends it).</summary>
    private void Store(IConsumer<KeyKept?, PlannedRecord> consumer, AcknowledgedPosition position)
    {
        var offset = new TopicPartitionOffset(position.Partition.Source, new Partition(position.Partition.Partition), new Offset(position.Position));
        try
        {
            consumer.StoreOffset(offset);
        }
        catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
        {
            // The partition was taken away meanwhile: its new owner re-reads these records.
            Log.OffsetStoreFailed(_logger, offset.ToString(), ex.Error.Reason);
        }
    }

    private void OnError(IConsumer<KeyKept?, PlannedRecord> consumer, Error error)
    {
        if (error.IsFatal)
        {
            // A fatal error leaves the consumer unusable: end the process so an orchestrator restarts it,
            // rather than keep a live process that consumes nothing.
            Log.KafkaFatalError(_logger, error.Code.ToString(), error.Reason);
            _fatalError = error;
            _exit.Fail($"fatal Kafka error {error.Code}: {error.Reason}");
            return;
        }

        _kafkaErrors.Report(error);
    }
}
