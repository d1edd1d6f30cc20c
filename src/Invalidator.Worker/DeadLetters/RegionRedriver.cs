using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Invalidator.Worker.Sources.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Re-applies a region's dead-lettered invalidations once the region is healthy again, in order, and only
/// then stores its own offset on the dead-letter topic (group <c>&lt;GroupId&gt;.redrive</c>). Poison records
/// are passed over: they wait for <c>dlq replay</c> after a rules fix.
/// While a region is down its letter is retried every <c>RedriveRetryInterval</c>; attempts go through the
/// region's circuit breaker, so an open circuit costs nothing.
/// </summary>
internal sealed class RegionRedriver : BackgroundService
{
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);

    private readonly InvalidatorOptions _options;
    private readonly RegionSet _regions;
    private readonly ILogger<RegionRedriver> _logger;
    private readonly TimeProvider _time;
    private readonly KafkaErrorLog _kafkaErrors;

    public RegionRedriver(IOptions<InvalidatorOptions> options, RegionSet regions, ILogger<RegionRedriver> logger, TimeProvider time)
    {
        _options = options.Value;
        _regions = regions;
        _logger = logger;
        _time = time;
        _kafkaErrors = new KafkaErrorLog(logger, time);
    }

    public static string GroupIdFor(KafkaOptions kafka) => kafka.GroupId + ".redrive";

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _options.DeadLetter.Redrive ? Task.Run(() => RunAsync(stoppingToken), CancellationToken.None) : Task.CompletedTask;

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var config = KafkaConsumerSettings.Build(_options.Kafka);
        config.GroupId = GroupIdFor(_options.Kafka);
        using var consumer = new ConsumerBuilder<byte[]?, byte[]?>(config)
            .SetErrorHandler((_, error) => _kafkaErrors.Report(error))
            .SetLogHandler((_, message) => _kafkaErrors.Trace(message))
            .Build();
        consumer.Subscribe(_options.DeadLetter.Topic);
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                ConsumeResult<byte[]?, byte[]?>? record;
                try
                {
                    record = consumer.Consume(IdlePoll);
                }
                catch (ConsumeException ex) when (!ex.Error.IsFatal)
                {
                    _kafkaErrors.Report(ex.Error);
                    continue;
                }

                if (record is null || record.IsPartitionEOF)
                {
                    continue;
                }

                await RedriveAsync(record, stoppingToken).ConfigureAwait(false);
                try
                {
                    consumer.StoreOffset(record);
                }
                catch (KafkaException ex) when (ex.Error.Code == ErrorCode.Local_State)
                {
                    Log.OffsetStoreFailed(_logger, record.TopicPartitionOffset.ToString(), ex.Error.Reason);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The letter being redriven is not acknowledged; it is redriven again after a restart.
        }
        finally
        {
            consumer.Close();
        }
    }

    private async Task RedriveAsync(ConsumeResult<byte[]?, byte[]?> record, CancellationToken stoppingToken)
    {
        if (!IsRegionLetter(record.Message.Headers))
        {
            return;
        }

        RegionDeadLetter letter;
        try
        {
            letter = RegionDeadLetter.FromJson(record.Message.Value);
        }
        catch (JsonException)
        {
            Log.RedriveUnknownRegion(_logger, record.Topic, record.Partition.Value, record.Offset.Value, "<unreadable letter>");
            return;
        }

        if (_regions.Find(letter.Region) is not { } region)
        {
            Log.RedriveUnknownRegion(_logger, record.Topic, record.Partition.Value, record.Offset.Value, letter.Region);
            return;
        }

        while (true)
        {
            try
            {
                var result = await region.ApplyAsync(letter.Keys, letter.Tags, stoppingToken).ConfigureAwait(false);
                Log.RegionRedriven(_logger, region.Name, record.Topic, record.Partition.Value, record.Offset.Value, letter.Keys.Count, letter.Tags.Count, result.KeysFound);
                return;
            }
            catch (RegionApplyException ex)
            {
                var delay = _options.DeadLetter.RedriveRetryInterval;
                Log.RedriveWaiting(_logger, region.Name, Log.Describe(ex.InnerException), record.Topic, record.Partition.Value, record.Offset.Value, delay);
                await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private static bool IsRegionLetter(Headers? headers) =>
        headers is not null
        && headers.TryGetLastBytes(DeadLetterPublisher.KindHeader, out var kind)
        && Encoding.UTF8.GetString(kind) == RegionDeadLetter.Kind;
}
