using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Diagnostics;

/// <summary>Every log message of the worker, with fixed event ids (1xxx source, 2xxx regions (21xx the second delete), 3xxx planning, 4xxx dead letters, 5xxx Postgres source, 6xxx HTTP and diagnostics, 7000 the dead-letter table).</summary>
internal static partial class Log
{
    [LoggerMessage(1000, LogLevel.Information, "Consuming {Subscription} as group {GroupId} from {BootstrapServers}")]
    public static partial void ConsumerStarting(ILogger logger, string subscription, string groupId, string bootstrapServers);

    [LoggerMessage(1001, LogLevel.Information, "Partitions assigned: {Partitions}")]
    public static partial void PartitionsAssigned(ILogger logger, string partitions);

    [LoggerMessage(1002, LogLevel.Information, "Partitions revoked: {Partitions}; {Dropped} of them had unfinished batches, whose positions are dropped unacknowledged: the next owner re-reads them")]
    public static partial void PartitionsRevoked(ILogger logger, string partitions, int dropped);

    [LoggerMessage(1003, LogLevel.Warning, "Partitions lost: {Partitions}; {Dropped} of them had unfinished batches, whose positions are dropped unacknowledged")]
    public static partial void PartitionsLost(ILogger logger, string partitions, int dropped);

    [LoggerMessage(1004, LogLevel.Warning, "Kafka error {Code}: {Reason} ({Suppressed} more of this kind in the last 10 s)")]
    public static partial void KafkaError(ILogger logger, string code, string reason, long suppressed);

    [LoggerMessage(1012, LogLevel.Debug, "{Client} {Facility}: {Message}")]
    public static partial void KafkaClientLog(ILogger logger, string client, string facility, string message);

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

    [LoggerMessage(1010, LogLevel.Warning, "Offset commit failed ({Code}: {Reason}); the stored offsets are committed with the next commit")]
    public static partial void CommitFailed(ILogger logger, string code, string reason);

    [LoggerMessage(1011, LogLevel.Critical, "{Reason}")]
    public static partial void BrokersUnreachable(ILogger logger, string reason);

    [LoggerMessage(2000, LogLevel.Warning, "Region {Region}: delete attempt {Attempt} failed ({Error}), retrying in {Delay}")]
    public static partial void RegionRetry(ILogger logger, string region, int attempt, string error, TimeSpan delay);

    [LoggerMessage(2001, LogLevel.Error, "Region {Region} could not apply a batch of {Keys} keys and {Tags} tags ({Error}); retrying the batch in {Delay} (nothing is acknowledged meanwhile)")]
    public static partial void RegionBatchFailed(ILogger logger, string region, int keys, int tags, string error, TimeSpan delay);

    [LoggerMessage(2002, LogLevel.Information, "Region {Region} connected to {Endpoints} (key prefix '{KeyPrefix}', {Command})")]
    public static partial void RegionReady(ILogger logger, string region, string endpoints, string keyPrefix, string command);

    [LoggerMessage(2090, LogLevel.Warning, "Region {Region} is not connected to {Endpoints} yet (key prefix '{KeyPrefix}', {Command}); retrying in the background. Until it answers, its deletes fail and, after their retries, are dead-lettered")]
    public static partial void RegionNotYetConnected(ILogger logger, string region, string endpoints, string keyPrefix, string command);

    [LoggerMessage(2003, LogLevel.Error, "Region {Region}: circuit opened for {BreakDuration} ({Error}); its invalidations are dead-lettered meanwhile")]
    public static partial void CircuitOpened(ILogger logger, string region, TimeSpan breakDuration, string error);

    [LoggerMessage(2004, LogLevel.Information, "Region {Region}: circuit half-open, trying one batch")]
    public static partial void CircuitHalfOpened(ILogger logger, string region);

    [LoggerMessage(2005, LogLevel.Information, "Region {Region}: circuit closed, the region is healthy again")]
    public static partial void CircuitClosed(ILogger logger, string region);

    [LoggerMessage(2006, LogLevel.Error, "Region {Region} could not apply a batch of {Keys} keys and {Tags} tags after {Attempts} attempts ({Error}); dead-lettering it")]
    public static partial void RegionBatchDeadLettered(ILogger logger, string region, int keys, int tags, int attempts, string error);

    [LoggerMessage(2007, LogLevel.Information, "Region {Region}: redrove dead letter {Letter} ({Keys} keys, {Tags} tags; {Found} were cached)")]
    public static partial void RegionRedriven(ILogger logger, string region, string letter, int keys, int tags, long found);

    [LoggerMessage(2008, LogLevel.Warning, "Region {Region} is still failing ({Error}); redrive of dead letter {Letter} retries in {Delay}")]
    public static partial void RedriveWaiting(ILogger logger, string region, string error, string letter, TimeSpan delay);

    [LoggerMessage(2009, LogLevel.Warning, "Dead letters at {Letter} name region '{Region}', which is not configured: no region redrives them")]
    public static partial void RedriveUnknownRegion(ILogger logger, string letter, string region);

    [LoggerMessage(2010, LogLevel.Warning, "Region {Region}: dead letter {Letter} cannot be redriven ({Problem}); passed over")]
    public static partial void RedriveSkipped(ILogger logger, string region, string letter, string problem);

    [LoggerMessage(2011, LogLevel.Warning, "Region {Region}: the redrive cannot read or mark the dead-letter {Store} ({Error}); retrying every {Delay} ({Suppressed} more in the last 10 s)")]
    public static partial void RedriveStalled(ILogger logger, string region, string store, string error, TimeSpan delay, long suppressed);

    [LoggerMessage(2100, LogLevel.Information, "Region {Region} ({Target}) connected to {Endpoints} ({Description})")]
    public static partial void RegionTargetReady(ILogger logger, string region, string target, string endpoints, string description);

    [LoggerMessage(2190, LogLevel.Warning, "Region {Region} ({Target}) is not connected to {Endpoints} yet ({Description}); retrying in the background. Until it answers, its invalidations fail and, after their retries, are dead-lettered")]
    public static partial void RegionTargetNotYetConnected(ILogger logger, string region, string target, string endpoints, string description);

    [LoggerMessage(2101, LogLevel.Warning, "Region {Region} ({Target}) has no lease keys: Invalidator:Consistency:Leases (and a rule's leases: true) do not apply to it; its keys and tags are invalidated as without leases")]
    public static partial void RegionTargetIgnoresLeases(ILogger logger, string region, string target);

    [LoggerMessage(2110, LogLevel.Debug, "Second delete of {Keys} keys and {Tags} tags applied in every region ({Batches} batches, {When})")]
    public static partial void SecondDeleteApplied(ILogger logger, int keys, int tags, int batches, string when);

    [LoggerMessage(2111, LogLevel.Warning, "{Names} keys and tags had their second delete run before its delay: more than {MaxPending} were pending (Invalidator:Consistency:SecondDeleteMaxPending). Their window was shorter; raise the bound or shorten the delay if this repeats")]
    public static partial void SecondDeletesRanEarly(ILogger logger, long names, long maxPending);

    [LoggerMessage(3000, LogLevel.Warning, "Template '{Template}' of {Table} could not render from the {Image} image ({Failure}, column '{Column}'): {Reason} ({Suppressed} similar messages suppressed)")]
    public static partial void TemplateUnresolved(ILogger logger, string template, string table, string image, string failure, string column, string reason, long suppressed);

    [LoggerMessage(3001, LogLevel.Information, "Loaded rules from {Path}: {Tables} tables, version {Version}")]
    public static partial void RulesLoaded(ILogger logger, string path, int tables, string version);

    [LoggerMessage(3002, LogLevel.Information, "Reloaded rules from {Path} ({Trigger}): version {Version} is live from the next batch on ({Tables} tables; was version {Previous})")]
    public static partial void RulesReloaded(ILogger logger, string path, string trigger, string version, int tables, string previous);

    [LoggerMessage(3003, LogLevel.Error, "{Error}")]
    public static partial void RulesReloadError(ILogger logger, string error);

    [LoggerMessage(3004, LogLevel.Error, "Refused the changed rules file {Path} ({Trigger}, {Errors} error(s) above): version {Version}, loaded at {LoadedAt}, stays live")]
    public static partial void RulesReloadRefused(ILogger logger, string path, string trigger, int errors, string version, string loadedAt);

    [LoggerMessage(EventId = 3005, Message = "Rules file {Path} is unchanged ({Trigger}): version {Version} stays live")]
    public static partial void RulesUnchanged(ILogger logger, LogLevel level, string path, string trigger, string version);

    [LoggerMessage(3006, LogLevel.Information, "Watching {Path} for changes (reloaded once unchanged for {DebounceSeconds} s); SIGHUP reloads it too")]
    public static partial void RulesWatching(ILogger logger, string path, double debounceSeconds);

    [LoggerMessage(3007, LogLevel.Information, "Not watching {Path} (Invalidator:Rules:Watch is false); SIGHUP reloads it")]
    public static partial void RulesNotWatched(ILogger logger, string path);

    [LoggerMessage(3008, LogLevel.Warning, "Cannot watch {Path} for changes ({Reason}); SIGHUP still reloads it")]
    public static partial void RulesWatchFailed(ILogger logger, string path, string reason);

    [LoggerMessage(3010, LogLevel.Information, "Shadow: {Table} {Op} would delete {Keys} keys and {Tags} tags ({Example}); nothing deleted ({Suppressed} more shadow changes of this table in the last 10 s)")]
    public static partial void ShadowPlanned(ILogger logger, string table, string op, int keys, int tags, string example, long suppressed);

    [LoggerMessage(3011, LogLevel.Warning, "Shadow mode (Invalidator:Mode = Shadow): every invalidation is planned and counted, nothing is deleted, and the dead-letter redrive is off. Positions are still acknowledged: give this worker its own consumer group (Invalidator:Kafka:GroupId) and dead-letter topic, or in direct mode its own slot and dead-letter table")]
    public static partial void ShadowMode(ILogger logger);

    [LoggerMessage(3012, LogLevel.Information, "Shadow rules (planned and counted, never deleted): {Tables}")]
    public static partial void ShadowRules(ILogger logger, string tables);

    [LoggerMessage(4000, LogLevel.Warning, "Dead-lettered {Record} into the {Store}: {Reason}")]
    public static partial void RecordDeadLettered(ILogger logger, string record, string store, string reason);

    [LoggerMessage(4001, LogLevel.Error, "Could not write to the dead-letter {Store}; nothing it covers is acknowledged, and the write is retried")]
    public static partial void DeadLetterWriteFailed(ILogger logger, string store, Exception exception);

    [LoggerMessage(4002, LogLevel.Information, "The dead-letter topic {Topic} does not exist yet (nothing was dead-lettered): the redrive reads it once it does")]
    public static partial void DeadLetterTopicAbsent(ILogger logger, string topic);

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

    [LoggerMessage(6000, LogLevel.Information, "Serving /metrics, /healthz and /readyz on {Urls}")]
    public static partial void HttpListening(ILogger logger, string urls);

    [LoggerMessage(6001, LogLevel.Critical, "Could not listen on {Urls} (Invalidator:Http:Urls or Invalidator:Http:StatusUrls): {Reason}")]
    public static partial void HttpListenFailed(ILogger logger, string urls, string reason, Exception exception);

    [LoggerMessage(7000, LogLevel.Information, "Dead-letter table {Table} is ready")]
    public static partial void DeadLetterTableReady(ILogger logger, string table);

    [LoggerMessage(8100, LogLevel.Error, "Region {Region}: {Endpoint} refused the connection ({FailureType}: {Reason}). Check Invalidator:Regions:{Region}:User and :Password or :PasswordFile, and for TLS ssl=true in :Redis and :TlsCaFile ({Suppressed} more in the last minute)")]
    public static partial void RegionAuthenticationFailed(ILogger logger, string region, string endpoint, string failureType, string reason, long suppressed);

    [LoggerMessage(8020, LogLevel.Warning, "A delete of {Table} has a before image of only its key's columns and type defaults (0, \"\", false, null): the shape Debezium sends under REPLICA IDENTITY DEFAULT, which fills the columns it was not sent with placeholders, so keys and tags rendered from them name a row that never was (like team:0) and the old row's are missed. Fix: ALTER TABLE {Table} REPLICA IDENTITY FULL, or add 'replicaIdentity: default' to its rule so that only the key's columns of old rows are used; if the table is FULL and such rows are real, add 'replicaIdentity: full' to say so. ({Suppressed} more such deletes of this table since the last message)")]
    public static partial void SuspectDefaultIdentity(ILogger logger, string table, long suppressed);

    [LoggerMessage(8060, LogLevel.Error, "... and {More} more error(s) in {Path}, not shown: only the first {Shown} are kept")]
    public static partial void RulesReloadMoreErrors(ILogger logger, int more, string path, int shown);

    [LoggerMessage(8040, LogLevel.Warning, "Region {Region}: the server refused {Count} name(s) for good ({Error}), for example {Example}; the rest applied, and they are dead-lettered as a poison letter to {Store} (dlq replay re-applies them once the cause is fixed)")]
    public static partial void RegionNamesPoisoned(ILogger logger, string region, int count, string error, string example, string store);

    [LoggerMessage(8041, LogLevel.Error, "Region {Region}: the server refused {Count} name(s) for good ({Error}), for example {Example}, and there is no dead-letter store to keep them: they stay unapplied")]
    public static partial void RegionNamesRefusedUnstored(ILogger logger, string region, int count, string error, string example);

    [LoggerMessage(8042, LogLevel.Error, "Region {Region}: dead letter {Letter} ({Keys} keys, {Tags} tags) failed {Tries} redrive tries on an error that is not the region being unreachable ({Error}); quarantined as a poison letter in {Store} (dlq replay re-applies it), the letters behind it go on")]
    public static partial void RedriveQuarantined(ILogger logger, string region, string letter, int keys, int tags, int tries, string error, string store);

    [LoggerMessage(8080, LogLevel.Information, "Purged {Rows} rows of the dead-letter table {Table}: redriven, or older than Invalidator:DeadLetter:Retention ({Retention})")]
    public static partial void DeadLettersPurged(ILogger logger, int rows, string table, TimeSpan retention);

    [LoggerMessage(8081, LogLevel.Warning, "Could not purge the dead-letter table {Table} (Invalidator:DeadLetter:Retention): {Reason}; trying again in {Delay}")]
    public static partial void DeadLetterPurgeFailed(ILogger logger, string table, string reason, TimeSpan delay);

    [LoggerMessage(8082, LogLevel.Information, "Dead-letter producer ready for topic {Topic}: {State}")]
    public static partial void DeadLetterProducerReady(ILogger logger, string topic, string state);

    [LoggerMessage(8083, LogLevel.Critical, "{Reason}")]
    public static partial void DeadLetterTopicUnusable(ILogger logger, string reason);

    [LoggerMessage(8084, LogLevel.Warning, "A {Kind} letter of {Bytes} bytes is larger than the dead-letter topic {Topic} accepts ({Code}): {What}")]
    public static partial void DeadLetterTooLarge(ILogger logger, string kind, long bytes, string topic, string code, string what);

    [LoggerMessage(8061, LogLevel.Information, "Serving the status page and /status.json on {Urls} (Invalidator:Http:StatusUrls), to the hosts {AllowedHosts} (Invalidator:Http:AllowedHosts)")]
    public static partial void StatusPageListening(ILogger logger, string urls, string allowedHosts);

    [LoggerMessage(8062, LogLevel.Information, "The status page and /status.json are off (Invalidator:Http:StatusUrls is empty)")]
    public static partial void StatusPageOff(ILogger logger);

    [LoggerMessage(8340, LogLevel.Warning, "Cannot read replication slot {Slot}'s lag (invalidator_slot_lag_bytes): {Reason}. Said once until it can again")]
    public static partial void SlotLagUnreadable(ILogger logger, string slot, string reason);

    [LoggerMessage(8341, LogLevel.Information, "Replication slot {Slot}'s lag can be read again: {Bytes} bytes")]
    public static partial void SlotLagReadable(ILogger logger, string slot, long bytes);

    [LoggerMessage(8342, LogLevel.Warning, "Region {Region}: cannot publish the applied position {Key}: {Reason}. Readers that wait for it bypass the cache there until it is written; tried again every second, said once until it works")]
    public static partial void AppliedPositionWriteFailed(ILogger logger, string region, string key, string reason);

    [LoggerMessage(8343, LogLevel.Information, "Region {Region}: the applied position is published again ({Lsn})")]
    public static partial void AppliedPositionWritten(ILogger logger, string region, string lsn);

    [LoggerMessage(8101, LogLevel.Error, "Region {Region}: refused the server's TLS certificate: {Reason}. Check Invalidator:Regions:{Region}:TlsCaFile ({Suppressed} more in the last minute)")]
    public static partial void RegionCertificateRejected(ILogger logger, string region, string reason, long suppressed);

    [LoggerMessage(8102, LogLevel.Error, "Region {Region}: {Endpoint} says this connection is user '{Actual}', not '{User}' (Invalidator:Regions:{Region}:User): the server refused the password and carried on with its passwordless default user. Fix :Password or :PasswordFile, and turn the default user off (ACL SETUSER default off) ({Suppressed} more in the last minute)")]
    public static partial void RegionWrongIdentity(ILogger logger, string region, string endpoint, string actual, string user, long suppressed);

    [LoggerMessage(8300, LogLevel.Error, "Read replica check failed: {Message}")]
    public static partial void ReplicaCheckFailed(ILogger logger, string message);

    [LoggerMessage(8301, LogLevel.Warning, "Read replica check: {Message} The worker starts: waits for it end at Invalidator:Consistency:ReplicaWaitMax (counted in invalidator_replica_waits_expired_total) until it answers")]
    public static partial void ReplicaCheckUnreachable(ILogger logger, string message);

    [LoggerMessage(8302, LogLevel.Information, "Read replicas checked: {Replicas} answer as standbys{Primary}")]
    public static partial void ReplicaChecksPassed(ILogger logger, string replicas, string primary);

    [LoggerMessage(8320, LogLevel.Warning, "Read replica {Replica} does not answer: {Error}. Waits for it end at Invalidator:Consistency:ReplicaWaitMax")]
    public static partial void ReplicaUnreachable(ILogger logger, string replica, string error);

    [LoggerMessage(8321, LogLevel.Information, "Read replica {Replica} answers again (replayed up to {ReplayedLsn})")]
    public static partial void ReplicaBack(ILogger logger, string replica, string replayedLsn);

    [LoggerMessage(8322, LogLevel.Warning, "Waits for read replica {Replica} reach Invalidator:Consistency:ReplicaWaitMax ({WaitMax}): its keys are deleted again without it having replayed the change (counted in invalidator_replica_waits_expired_total); said once until a wait succeeds again")]
    public static partial void ReplicaWaitsExpiring(ILogger logger, string replica, TimeSpan waitMax);

    [LoggerMessage(8323, LogLevel.Warning, "The primary's WAL position cannot be read for the replica wait: {Error}. Retried until Invalidator:Consistency:ReplicaWaitMax, then the keys are deleted again without waiting; said once until a read succeeds again")]
    public static partial void PrimaryPositionUnreadable(ILogger logger, string error);

    [LoggerMessage(8324, LogLevel.Debug, "Deleted {Keys} keys and {Tags} tags again after the read replicas replayed their change ({Expired})")]
    public static partial void ReplicaDeleteApplied(ILogger logger, int keys, int tags, string expired);

    // 8325-8329: the freshness probe in Kafka mode with several workers, and its FusionCache regions.
    [LoggerMessage(8325, LogLevel.Warning, "The probe's FusionCache in region {Region} could not subscribe to the region's backplane: {Error}. Tried again every second; until it is subscribed, its canaries count as lost")]
    public static partial void CanaryBackplaneNotSubscribed(ILogger logger, string region, string error);

    /// <summary>The message of the innermost exception: a Redis outage repeats on every retry, so one line says enough.</summary>
    public static string Describe(Exception? exception) => LogText.Escape(exception?.GetBaseException().Message ?? "no exception");

    // 8350-8369: the freshness probe.
    [LoggerMessage(8350, LogLevel.Warning, "Canary {Canary} lost in region {Region}: {Reason}")]
    public static partial void CanaryLost(ILogger logger, string canary, string region, string reason);

    [LoggerMessage(8351, LogLevel.Error, "The freshness probe cannot start: {Problem}")]
    public static partial void ProbeNotReady(ILogger logger, string problem);

    [LoggerMessage(8352, LogLevel.Information, "Freshness probe started as worker {Worker}: a canary in {Regions} region(s) every {Interval}, table {Table}, objective {Objective}, deadline {Deadline}")]
    public static partial void ProbeStarted(ILogger logger, string worker, int regions, TimeSpan interval, string table, TimeSpan objective, TimeSpan deadline);

    [LoggerMessage(8353, LogLevel.Warning, "A freshness probe round failed")]
    public static partial void ProbeRoundFailed(ILogger logger, Exception exception);

    [LoggerMessage(8380, LogLevel.Information, "Warmed up the decode, plan and delete path in {Milliseconds:F0} ms (invalidator:warmup:* in the connected Redis regions): the first change pays no JIT for it")]
    public static partial void WarmedUp(ILogger logger, double milliseconds);

    [LoggerMessage(8381, LogLevel.Warning, "The start-up warm-up did not finish ({Reason}): the worker starts all the same, its first changes may take longer")]
    public static partial void WarmUpFailed(ILogger logger, string reason);
}
