using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Diagnostics;

/// <summary>Every log message of the worker, with fixed event ids (1xxx source, 2xxx regions, 3xxx planning, 4xxx dead letters, 6xxx HTTP and diagnostics).</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Consuming {Subscription} as group {GroupId} from {BootstrapServers}")]
    public static partial void ConsumerStarting(ILogger logger, string subscription, string groupId, string bootstrapServers);

    [LoggerMessage(1001, LogLevel.Information, "Partitions assigned: {Partitions}")]
    public static partial void PartitionsAssigned(ILogger logger, string partitions);

    [LoggerMessage(1002, LogLevel.Information, "Partitions revoked: {Partitions}; {Dropped} unapplied records dropped, the next owner re-reads them")]
    public static partial void PartitionsRevoked(ILogger logger, string partitions, int dropped);

    [LoggerMessage(1003, LogLevel.Warning, "Partitions lost: {Partitions}; {Dropped} unapplied records dropped")]
    public static partial void PartitionsLost(ILogger logger, string partitions, int dropped);

    [LoggerMessage(1004, LogLevel.Warning, "Kafka error {Code}: {Reason}")]
    public static partial void KafkaError(ILogger logger, string code, string reason);

    [LoggerMessage(1005, LogLevel.Critical, "Fatal Kafka error {Code}: {Reason}. Stopping the worker so that it is restarted")]
    public static partial void KafkaFatalError(ILogger logger, string code, string reason);

    [LoggerMessage(1006, LogLevel.Information, "Consumer closed; stored offsets committed")]
    public static partial void ConsumerClosed(ILogger logger);

    [LoggerMessage(1007, LogLevel.Debug, "Applied batch of {Records} records: {Keys} keys, {Tags} tags")]
    public static partial void BatchApplied(ILogger logger, int records, int keys, int tags);

    [LoggerMessage(1008, LogLevel.Warning, "Could not store offset {Offset}: {Reason}")]
    public static partial void OffsetStoreFailed(ILogger logger, string offset, string reason);

    [LoggerMessage(1009, LogLevel.Critical, "The worker stopped on an unexpected error")]
    public static partial void WorkerCrashed(ILogger logger, Exception exception);

    [LoggerMessage(2000, LogLevel.Warning, "Region {Region}: delete attempt {Attempt} failed, retrying in {Delay}")]
    public static partial void RegionRetry(ILogger logger, string region, int attempt, TimeSpan delay, Exception? exception);

    [LoggerMessage(2001, LogLevel.Error, "Region {Region} could not apply a batch of {Keys} keys and {Tags} tags; retrying the batch in {Delay} (nothing is acknowledged meanwhile)")]
    public static partial void RegionBatchFailed(ILogger logger, string region, int keys, int tags, TimeSpan delay, Exception exception);

    [LoggerMessage(2002, LogLevel.Information, "Region {Region} connected to {Endpoints} (key prefix '{KeyPrefix}', {Command})")]
    public static partial void RegionReady(ILogger logger, string region, string endpoints, string keyPrefix, string command);

    [LoggerMessage(3000, LogLevel.Warning, "Template '{Template}' of {Table} could not render from the {Image} image: column '{Column}' is {Failure} ({Suppressed} similar messages suppressed)")]
    public static partial void TemplateUnresolved(ILogger logger, string template, string table, string image, string column, string failure, long suppressed);

    [LoggerMessage(3001, LogLevel.Information, "Loaded rules from {Path}: {Tables} tables")]
    public static partial void RulesLoaded(ILogger logger, string path, int tables);

    [LoggerMessage(4000, LogLevel.Warning, "Dead-lettered {Topic}[{Partition}]@{Offset}: {Reason}")]
    public static partial void RecordDeadLettered(ILogger logger, string topic, int partition, long offset, string reason);

    [LoggerMessage(4001, LogLevel.Error, "Could not write to the dead-letter topic {Topic}; the batch is retried")]
    public static partial void DeadLetterWriteFailed(ILogger logger, string topic, Exception exception);

    [LoggerMessage(6000, LogLevel.Information, "Serving /metrics, /healthz, /readyz and the status page on {Urls}")]
    public static partial void HttpListening(ILogger logger, string urls);

    [LoggerMessage(6001, LogLevel.Critical, "Could not listen on {Urls} (Invalidator:Http:Urls): {Reason}")]
    public static partial void HttpListenFailed(ILogger logger, string urls, string reason, Exception exception);
}
