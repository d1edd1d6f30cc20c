using Confluent.Kafka;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Reads Debezium topics and invalidates in batches.
///
/// Delivery guarantee: at-least-once. An offset is stored (and then committed from the store) only after
/// every region applied the deletes of all records before it, and after any poison record among them was
/// written to the dead-letter topic. A crash, a revocation or a shutdown mid-batch leaves the batch
/// unacknowledged, so it is read again; repeating a delete is harmless.
/// </summary>
internal sealed class KafkaChangeSource : BackgroundService
{
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan DeadLetterRetryDelay = TimeSpan.FromSeconds(1);
    private const string StatusName = "kafka";

    private readonly InvalidatorOptions _options;
    private readonly ChangeRecordPlanner _planner;
    private readonly BatchApplier _applier;
    private readonly DeadLetterPublisher _deadLetters;
    private readonly WorkerExit _exit;
    private readonly ILogger<KafkaChangeSource> _logger;
    private readonly TimeProvider _time;
    private readonly WorkerStatus _status;
    private readonly PendingBatch _pending = new();
    private readonly KafkaErrorLog _kafkaErrors;
    private volatile Error? _fatalError;

    public KafkaChangeSource(
        IOptions<InvalidatorOptions> options,
        ChangeRecordPlanner planner,
        BatchApplier applier,
        DeadLetterPublisher deadLetters,
        WorkerExit exit,
        ILogger<KafkaChangeSource> logger,
        TimeProvider time,
        WorkerStatus status)
    {
        _options = options.Value;
        _planner = planner;
        _applier = applier;
        _deadLetters = deadLetters;
        _exit = exit;
        _logger = logger;
        _time = time;
        _kafkaErrors = new KafkaErrorLog(logger, time);
        _status = status;
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

        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(KafkaConsumerSettings.Build(kafka))
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
            .SetStatisticsHandler((_, json) => _status.KafkaStatisticsReceived(json))
            .SetPartitionsAssignedHandler((_, partitions) =>
            {
                Log.PartitionsAssigned(_logger, string.Join(", ", partitions));
                _status.PartitionsAssigned(partitions.Select(p => new SourcePartition(p.Topic, p.Partition.Value)));
            })
            .SetPartitionsRevokedHandler((_, partitions) =>
            {
                Log.PartitionsRevoked(_logger, string.Join(", ", partitions), _pending.Drop(partitions.Select(p => p.TopicPartition)));
                _status.PartitionsRevoked(partitions.Select(p => new SourcePartition(p.Topic, p.Partition.Value)));
            })
            .SetPartitionsLostHandler((_, partitions) =>
            {
                Log.PartitionsLost(_logger, string.Join(", ", partitions), _pending.Drop(partitions.Select(p => p.TopicPartition)));
                _status.PartitionsRevoked(partitions.Select(p => new SourcePartition(p.Topic, p.Partition.Value)));
            })
            .Build();

        var subscription = KafkaConsumerSettings.Subscription(kafka);
        Log.ConsumerStarting(_logger, string.Join(", ", subscription), kafka.GroupId, kafka.BootstrapServers);
        consumer.Subscribe(subscription);
        try
        {
            while (!stoppingToken.IsCancellationRequested && _fatalError is null)
            {
                Fill(consumer, stoppingToken);
                if (_pending.RecordCount > 0 && _fatalError is null)
                {
                    await ApplyAsync(stoppingToken).ConfigureAwait(false);
                    Acknowledge(consumer);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown cut the batch short: it is not acknowledged and will be read again.
        }
        catch (Exception ex)
        {
            Log.WorkerCrashed(_logger, ex);
            _exit.Fail(ex.Message);
            throw;
        }
        finally
        {
            _status.ConsumeLoopStopped(StatusName, _exit.Reason ?? (stoppingToken.IsCancellationRequested ? "shutting down" : "ended"));
            _pending.Clear();
            if (_fatalError is null)
            {
                // Commits what is stored (applied work only) and leaves the group promptly.
                consumer.Close();
                Log.ConsumerClosed(_logger);
            }
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

    /// <summary>Consumes until the batch is full, or its first record has waited <c>MaxWait</c>.</summary>
    private void Fill(IConsumer<byte[]?, byte[]?> consumer, CancellationToken stoppingToken)
    {
        var batching = _options.Batching;
        long? firstAt = null;
        _status.ConsumeLoopTick(StatusName);
        while (_pending.RecordCount < batching.MaxRecords && !stoppingToken.IsCancellationRequested && _fatalError is null)
        {
            var timeout = IdlePoll;
            if (firstAt is { } first)
            {
                timeout = batching.MaxWait - _time.GetElapsedTime(first);
                if (timeout <= TimeSpan.Zero)
                {
                    return;
                }
            }

            ConsumeResult<byte[]?, byte[]?>? record;
            try
            {
                record = consumer.Consume(timeout);
            }
            catch (ConsumeException ex) when (!ex.Error.IsFatal)
            {
                // A failed fetch (leader moved, request timed out) is retried by librdkafka from the same offset.
                _kafkaErrors.Report(ex.Error);
                continue;
            }

            if (record is null || record.IsPartitionEOF)
            {
                _status.ConsumeLoopTick(StatusName); // Idle: Fill does not return, so tick here too.
                if (firstAt is null && _pending.RecordCount > 0)
                {
                    return; // Records kept after a revocation: apply them rather than wait for more.
                }

                continue;
            }

            firstAt ??= _time.GetTimestamp();
            var planned = _planner.Add(record.Topic, record.Message.Key, record.Message.Value, _pending.Batch.Invalidations, _options.DeadLetter.MaxRecordBytes);
            _pending.Track(record, planned);
        }
    }

    private async Task ApplyAsync(CancellationToken stoppingToken)
    {
        await DeadLetterPoisonAsync(stoppingToken).ConfigureAwait(false);
        await _applier.ApplyAsync(_pending.Batch, stoppingToken).ConfigureAwait(false);
    }

    private async Task DeadLetterPoisonAsync(CancellationToken stoppingToken)
    {
        foreach (var (record, reason) in _pending.Poison)
        {
            // The offset of a poison record is acknowledged only once the dead-letter topic holds it.
            while (true)
            {
                try
                {
                    await _deadLetters.PublishPoisonAsync(record, reason, stoppingToken).ConfigureAwait(false);
                    break;
                }
                catch (KafkaException)
                {
                    await Task.Delay(DeadLetterRetryDelay, _time, stoppingToken).ConfigureAwait(false);
                }
            }
        }
    }

    private void Acknowledge(IConsumer<byte[]?, byte[]?> consumer)
    {
        foreach (var offset in _pending.OffsetsToStore)
        {
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

        _pending.Clear();
    }

    private void OnError(IConsumer<byte[]?, byte[]?> consumer, Error error)
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
