using System.Collections.Concurrent;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Sources.Kafka;

/// <summary>
/// Kafka mode's redrive reader of the dead-letter topic. Redrive progress is kept per region: each region reads the
/// topic in its own consumer group (<c>&lt;GroupId&gt;.redrive.&lt;region&gt;</c>) and commits past a letter only once
/// that region applied it, so a region that is still down holds back only its own letters, and a crash re-reads, per
/// region, what that region had not applied yet. Each group passes over the letters of other regions and the poison records.
/// </summary>
internal sealed class KafkaRedriveReader(IOptions<InvalidatorOptions> options, ILogger<KafkaRedriveReader> logger, TimeProvider time)
    : IRedriveReader, IDisposable
{
    private readonly InvalidatorOptions _options = options.Value;
    private readonly ILogger<KafkaRedriveReader> _logger = logger;
    private readonly TimeProvider _time = time;
    private readonly ConcurrentDictionary<string, RegionReader> _readers = new(StringComparer.OrdinalIgnoreCase);

    // One region's reader reports letters of regions that are not configured, so they are reported once.
    private readonly string? _reportingRegion = options.Value.Regions.Keys.Order(StringComparer.OrdinalIgnoreCase).FirstOrDefault();
    private int _topicAbsentLogged;
    private int _disposed;

    public string Topic { get; } = options.Value.DeadLetter.Topic;

    public string Name => $"topic {Topic}";

    /// <summary>The consumer group that keeps <paramref name="region"/>'s redrive progress on the topic.</summary>
    public static string RedriveGroupId(KafkaOptions kafka, string region) => $"{kafka.GroupId}.redrive.{region}";

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

    // Registered under two service types, so the container disposes it twice.
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
    }

    /// <summary>
    /// One region's view of the topic: its own consumer group, so its progress is its own. Its offset moves past a
    /// letter once the letter is marked, and past anything not for it (another region's letter, a poison record)
    /// as soon as it is read.
    /// </summary>
    private sealed class RegionReader : IDisposable
    {
        private readonly KafkaRedriveReader _owner;
        private readonly string _region;
        private readonly IConsumer<byte[]?, byte[]?> _consumer;
        private readonly KafkaErrorLog _errors;
        private readonly HashSet<string> _reported = new(StringComparer.OrdinalIgnoreCase);
        private readonly HashSet<string> _configured;

        public RegionReader(KafkaRedriveReader owner, string region)
        {
            _owner = owner;
            _region = region;
            _errors = new KafkaErrorLog(owner._logger, owner._time);
            _configured = new HashSet<string>(owner._options.Regions.Keys, StringComparer.OrdinalIgnoreCase);
            var config = KafkaConsumerSettings.Build(owner._options.Kafka);
            config.GroupId = RedriveGroupId(owner._options.Kafka, region);
            _consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
                .SetErrorHandler((_, error) =>
                {
                    if (!owner.IsTopicAbsent(error))
                    {
                        _errors.Report(error);
                    }
                })
                .SetLogHandler((_, message) => _errors.Trace(message))
                .Build();
            _consumer.Subscribe(owner.Topic);
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
                    if (!_owner.IsTopicAbsent(ex.Error))
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
            if (KafkaHeaders.Text(headers, DeadLetterKinds.KindHeader) != DeadLetterKinds.Region)
            {
                return null;
            }

            var region = KafkaHeaders.Text(headers, DeadLetterKinds.RegionHeader) ?? "";
            if (!string.Equals(region, _region, StringComparison.OrdinalIgnoreCase))
            {
                if (!_configured.Contains(region) && string.Equals(_region, _owner._reportingRegion, StringComparison.OrdinalIgnoreCase) && _reported.Add(region))
                {
                    Log.RedriveUnknownRegion(_owner._logger, record.TopicPartitionOffset.ToString(), region);
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
                _consumer.StoreOffset(new TopicPartitionOffset(_owner.Topic, new Partition(partition), new Offset(offset + 1)));
            }
            catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
            {
                Log.OffsetStoreFailed(_owner._logger, $"{_owner.Topic} [{partition}] @{offset + 1}", ex.Error.Reason);
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
