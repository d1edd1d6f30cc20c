using System.Collections.Concurrent;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Kafka mode's dead-letter store: the topic <c>Invalidator:DeadLetter:Topic</c>. Poison records are written
/// unchanged with headers that say why and where they came from; a region letter is JSON keyed by its region.
/// A write counts only once the broker acknowledged it (acks=all, idempotent), so the source may then acknowledge.
/// </summary>
/// <remarks>
/// Redrive progress is kept per region: each region reads the topic in its own consumer group
/// (<c>&lt;GroupId&gt;.redrive.&lt;region&gt;</c>) and commits past a letter only once that region applied it, so a
/// region that is still down holds back only its own letters, and a crash re-reads, per region, what that region had
/// not applied yet. Each group passes over the letters of other regions and the poison records.
/// </remarks>
internal sealed class KafkaDeadLetterStore : IDeadLetterStore, IDisposable
{
    private static readonly TimeSpan ReplayPoll = TimeSpan.FromSeconds(10);

    private readonly InvalidatorOptions _options;
    private readonly ILogger<KafkaDeadLetterStore> _logger;
    private readonly TimeProvider _time;
    private readonly Lazy<IProducer<byte[]?, byte[]?>> _producer;
    private readonly ConcurrentDictionary<string, RegionReader> _readers = new(StringComparer.OrdinalIgnoreCase);
    private readonly string? _reportingRegion;
    private int _topicAbsentLogged;
    private int _disposed;

    public KafkaDeadLetterStore(IOptions<InvalidatorOptions> options, ILogger<KafkaDeadLetterStore> logger, TimeProvider time)
    {
        _options = options.Value;
        _logger = logger;
        _time = time;
        Topic = _options.DeadLetter.Topic;
        Name = $"topic {Topic}";
        // One region's reader reports letters of regions that are not configured, so they are reported once.
        _reportingRegion = _options.Regions.Keys.Order(StringComparer.OrdinalIgnoreCase).FirstOrDefault();
        _producer = new Lazy<IProducer<byte[]?, byte[]?>>(BuildProducer);
    }

    public string Topic { get; }

    public string Name { get; }

    /// <summary>The consumer group that keeps <paramref name="region"/>'s redrive progress on the topic.</summary>
    public static string RedriveGroupId(KafkaOptions kafka, string region) => $"{kafka.GroupId}.redrive.{region}";

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

    public Task<IReadOnlyList<PendingRegionLetter>> ReadPendingAsync(string region, int limit, CancellationToken cancellationToken)
    {
        var reader = _readers.GetOrAdd(region, name => new RegionReader(this, name));
        // Only what the consumer has fetched already: never blocks a thread (the redriver paces the polls).
        return Task.FromResult(reader.Read(cancellationToken));
    }

    public Task MarkRedrivenAsync(PendingRegionLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        if (_readers.TryGetValue(letter.Region, out var reader))
        {
            reader.Mark(letter);
        }

        return Task.CompletedTask;
    }

    /// <summary>Reads the topic from the beginning to its end at the start of the call, without a consumer group.</summary>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var config = KafkaConsumerSettings.Build(_options.Kafka);
        config.GroupId = "invalidator-replay-" + Guid.NewGuid().ToString("N");
        config.EnableAutoCommit = false;
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config).SetLogHandler((_, _) => { }).Build();
        foreach (var (partition, end) in await Task.Run(() => Ends(consumer), cancellationToken).ConfigureAwait(false))
        {
            consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var record = await Task.Run(() => consumer.Consume(ReplayPoll), cancellationToken).ConfigureAwait(false)
                    ?? throw new TimeoutException($"Reading {partition} stopped before its end offset {end}.");
                yield return Stored(record);
                if (record.Offset.Value >= end - 1)
                {
                    break;
                }
            }
        }
    }

    private static StoredDeadLetter Stored(ConsumeResult<byte[]?, byte[]?> record)
    {
        var headers = record.Message.Headers;
        var kind = Header(headers, DeadLetterKinds.KindHeader) ?? "";
        var reason = Header(headers, DeadLetterKinds.ReasonHeader) ?? "";
        var sourceTopic = Header(headers, DeadLetterKinds.SourceTopicHeader) ?? record.Topic;
        var where = kind == DeadLetterKinds.Poison
            ? $"{sourceTopic}[{Header(headers, DeadLetterKinds.SourcePartitionHeader)}]@{Header(headers, DeadLetterKinds.SourceOffsetHeader)}"
            : record.TopicPartitionOffset.ToString();
        PoisonContent? content = null;
        if (kind == DeadLetterKinds.Poison && Header(headers, DeadLetterKinds.ReferenceHeader) is null)
        {
            content = Header(headers, DeadLetterKinds.FormatHeader) switch
            {
                DeadLetterKinds.ChangeFormat => ChangeOrNull(record.Message.Value),
                DeadLetterKinds.RegionNamesFormat => RegionNamesOrNull(record.Message.Value),
                _ => new RawRecordContent(sourceTopic, record.Message.Key, record.Message.Value, [], null),
            };
        }

        return new StoredDeadLetter(kind, reason, where, content, sourceTopic);

        static PoisonContent? RegionNamesOrNull(byte[]? value)
        {
            try
            {
                return new RegionNamesContent(RegionDeadLetter.FromJson(value ?? [], DeadLetterKinds.Poison));
            }
            catch (JsonException)
            {
                return null;
            }
        }

        static PoisonContent? ChangeOrNull(byte[]? value)
        {
            try
            {
                return new ChangeContent(ChangeEventJson.Read(Encoding.UTF8.GetString(value ?? [])));
            }
            catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
            {
                return null;
            }
        }
    }

    /// <summary>Partitions of the topic that hold records, with their end offsets now.</summary>
    private List<(TopicPartition Partition, long End)> Ends(IConsumer<byte[]?, byte[]?> consumer)
    {
        using var admin = new DependentAdminClientBuilder(consumer.Handle).Build();
        var metadata = admin.GetMetadata(Topic, TimeSpan.FromSeconds(10));
        var partitions = metadata.Topics.SingleOrDefault(t => t.Topic == Topic)?.Partitions ?? [];
        var ends = new List<(TopicPartition, long)>();
        foreach (var p in partitions)
        {
            var partition = new TopicPartition(Topic, p.PartitionId);
            var marks = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10));
            if (marks.High.Value > marks.Low.Value)
            {
                ends.Add((partition, marks.High.Value));
            }
        }

        return ends;
    }

    private static string? Header(Headers? headers, string name) =>
        headers is not null && headers.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : null;

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

    /// <summary>The topic does not exist until the first letter is written: that is no error, so say it once, quietly.</summary>
    private bool IsTopicAbsent(Error error)
    {
        if (error.Code is not (ErrorCode.UnknownTopicOrPart or ErrorCode.Local_UnknownTopic))
        {
            return false;
        }

        if (Interlocked.Exchange(ref _topicAbsentLogged, 1) == 0)
        {
            Log.DeadLetterTopicAbsent(_logger, Topic);
        }

        return true;
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var reader in _readers.Values)
        {
            reader.Dispose();
        }

        if (_producer.IsValueCreated)
        {
            _producer.Value.Flush(TimeSpan.FromSeconds(5));
            _producer.Value.Dispose();
        }
    }

    /// <summary>
    /// One region's view of the topic: its own consumer group, so its progress is its own. Its offset moves past a
    /// letter once the letter is marked, and past anything not for it (another region's letter, a poison record)
    /// as soon as it is read.
    /// </summary>
    private sealed class RegionReader : IDisposable
    {
        private readonly KafkaDeadLetterStore _store;
        private readonly string _region;
        private readonly IConsumer<byte[]?, byte[]?> _consumer;
        private readonly KafkaErrorLog _errors;
        private readonly HashSet<string> _reported = new(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> _configured;

        public RegionReader(KafkaDeadLetterStore store, string region)
        {
            _store = store;
            _region = region;
            _errors = new KafkaErrorLog(store._logger, store._time);
            _configured = new HashSet<string>(store._options.Regions.Keys, StringComparer.OrdinalIgnoreCase);
            var config = KafkaConsumerSettings.Build(store._options.Kafka);
            config.GroupId = RedriveGroupId(store._options.Kafka, region);
            _consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
                .SetErrorHandler((_, error) =>
                {
                    if (!store.IsTopicAbsent(error))
                    {
                        _errors.Report(error);
                    }
                })
                .SetLogHandler((_, message) => _errors.Trace(message))
                .Build();
            _consumer.Subscribe(store.Topic);
        }

        /// <summary>
        /// The region's next letter (at most one: nothing is read past a letter before it is marked, so the group's
        /// offset can pass everything else it reads at once). Reading again passes over a letter read before.
        /// </summary>
        public IReadOnlyList<PendingRegionLetter> Read(CancellationToken cancellationToken)
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                ConsumeResult<byte[]?, byte[]?>? record;
                try
                {
                    record = _consumer.Consume(TimeSpan.Zero);
                }
                catch (ConsumeException ex) when (!ex.Error.IsFatal)
                {
                    if (!_store.IsTopicAbsent(ex.Error))
                    {
                        _errors.Report(ex.Error);
                    }

                    break;
                }

                if (record is null || record.IsPartitionEOF)
                {
                    break;
                }

                if (Mine(record) is { } letter)
                {
                    return [letter];
                }

                // Another region's letter or a poison record: nothing for this region, so its progress moves on.
                StoreNext(record.Partition.Value, record.Offset.Value);
            }

            return [];
        }

        /// <summary>The letter is applied: this region's progress moves past it (and past what it passed over before it).</summary>
        public void Mark(PendingRegionLetter letter) => StoreNext(letter.Partition, letter.Position);

        /// <summary>This region's letter, or null for anything else (which the region passes over).</summary>
        private PendingRegionLetter? Mine(ConsumeResult<byte[]?, byte[]?> record)
        {
            var headers = record.Message.Headers;
            if (Header(headers, DeadLetterKinds.KindHeader) != DeadLetterKinds.Region)
            {
                return null;
            }

            var region = Header(headers, DeadLetterKinds.RegionHeader) ?? "";
            if (!string.Equals(region, _region, StringComparison.OrdinalIgnoreCase))
            {
                if (!_configured.Contains(region) && string.Equals(_region, _store._reportingRegion, StringComparison.OrdinalIgnoreCase) && _reported.Add(region))
                {
                    Log.RedriveUnknownRegion(_store._logger, record.TopicPartitionOffset.ToString(), region);
                }

                return null;
            }

            RegionDeadLetter? letter;
            try
            {
                letter = RegionDeadLetter.FromJson(record.Message.Value);
            }
            catch (JsonException)
            {
                letter = null;
            }

            return new PendingRegionLetter(_region, letter, record.TopicPartitionOffset.ToString(), record.Partition.Value, record.Offset.Value);
        }

        private void StoreNext(int partition, long offset)
        {
            try
            {
                _consumer.StoreOffset(new TopicPartitionOffset(_store.Topic, new Partition(partition), new Offset(offset + 1)));
            }
            catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
            {
                Log.OffsetStoreFailed(_store._logger, $"{_store.Topic} [{partition}] @{offset + 1}", ex.Error.Reason);
            }
        }

        public void Dispose()
        {
            // Commits what is stored (letters this region applied) and leaves its group.
            _consumer.Close();
            _consumer.Dispose();
        }
    }
}

/// <summary>The dead-letter topic cannot be used at start: the message says what to fix, <see cref="ExitCode"/> how the worker ends.</summary>
internal sealed class DeadLetterTopicException(string message, int exitCode) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
