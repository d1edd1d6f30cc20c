using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Diagnostics;

/// <summary>Every log message of the worker, with fixed event ids (1xxx source, 2xxx regions, 3xxx planning, 4xxx dead letters, 5xxx Postgres source).</summary>
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

    [LoggerMessage(5000, LogLevel.Information, "Streaming publication {Publication} from slot {Slot} on PostgreSQL {ServerVersion}")]
    public static partial void ReplicationStarted(ILogger logger, string publication, string slot, string serverVersion);

    [LoggerMessage(5001, LogLevel.Information, "Created replication slot {Slot} (temporary: {Temporary}); it streams changes committed from {Lsn} on")]
    public static partial void SlotCreated(ILogger logger, string slot, bool temporary, string lsn);

    [LoggerMessage(5002, LogLevel.Warning, "Postgres check: {Message}")]
    public static partial void PostgresCheckWarning(ILogger logger, string message);

    [LoggerMessage(5003, LogLevel.Error, "Postgres check failed: {Message}")]
    public static partial void PostgresCheckFailed(ILogger logger, string message);

    [LoggerMessage(5004, LogLevel.Information, "Postgres check: {Message}")]
    public static partial void PostgresCheckInfo(ILogger logger, string message);

    [LoggerMessage(5005, LogLevel.Warning, "Replication interrupted: {Reason}. Reconnecting in {Delay}; unconfirmed transactions are streamed again")]
    public static partial void ReplicationInterrupted(ILogger logger, string reason, TimeSpan delay, Exception? exception);

    [LoggerMessage(5006, LogLevel.Debug, "Confirmed replication position {Lsn}")]
    public static partial void PositionConfirmed(ILogger logger, string lsn);

    [LoggerMessage(5007, LogLevel.Information, "Replication slot {Slot} is in use by PID {Pid}; waiting up to {Timeout} for it to be released (a previous worker may still be disconnecting)")]
    public static partial void SlotBusyWaiting(ILogger logger, string slot, int pid, TimeSpan timeout);

    [LoggerMessage(5008, LogLevel.Critical, "The Postgres source cannot start: {Reason}")]
    public static partial void PostgresSourceCannotStart(ILogger logger, string reason);
}
