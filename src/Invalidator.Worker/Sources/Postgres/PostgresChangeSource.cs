using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// Reads Postgres logical replication (pgoutput) directly and invalidates in batches, streaming and planning the
/// next batch while earlier ones are applied (at most <c>Invalidator:Batching:MaxInFlight</c> at once).
///
/// Delivery guarantee: at-least-once. pgoutput sends whole committed transactions in commit order. A
/// transaction's end LSN is confirmed to the slot (<c>SetReplicationStatus</c>) only when the
/// <see cref="AcknowledgementTracker"/> says every batch holding its changes, and everything before them, is
/// done: applied in every region or written to the dead-letter table, and its poison changes written there.
/// Npgsql's automatic status updates only ever repeat that confirmed LSN. A crash, a lost connection or a shutdown
/// mid-batch leaves the rest unconfirmed, and the slot streams it again; repeating a delete is harmless.
/// </summary>
internal sealed class PostgresChangeSource : BackgroundService
{
    public const string SourceName = "postgres";
    private const string DuplicateObject = "42710";
    private const string UndefinedObject = "42704";
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan FirstReconnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastReconnectDelay = TimeSpan.FromSeconds(30);
    private static readonly SourcePartition Slot = new(SourceName, 0);

    private readonly InvalidatorOptions _options;
    private readonly PostgresOptions _postgres;
    private readonly ChangeRecordPlanner _planner;
    private readonly WorkerExit _exit;
    private readonly ILogger<PostgresChangeSource> _logger;
    private readonly TimeProvider _time;
    private readonly WorkerEvents _events;
    private readonly PostgresSourceStartup _startup;
    private readonly BatchPipeline _pipeline;
    private readonly ReplicationProgress _progress;
    private readonly List<DecodedChange> _changes = [];

    private SourceBatch _open = new();
    private PgOutputDecoder _decoder = new(new Dictionary<string, RuleTableInfo>());
    private bool _slotKnownToExist;
    private bool _confirmUnsent;
    private long _acknowledged;

    public PostgresChangeSource(
        IOptions<InvalidatorOptions> options,
        RuleSet rules,
        ChangeRecordPlanner planner,
        BatchApplier applier,
        WorkerExit exit,
        ILogger<PostgresChangeSource> logger,
        TimeProvider time,
        WorkerEvents events,
        PostgresDeadLetterTable deadLetters)
    {
        _options = options.Value;
        _postgres = _options.Postgres;
        _planner = planner;
        _exit = exit;
        _logger = logger;
        _time = time;
        _events = events;
        _startup = new PostgresSourceStartup(_postgres, rules, deadLetters, events, logger, time);
        // The tracker's callback runs on whichever thread finished a batch: it only notes the position; the
        // stream loop confirms it (the tracker's Changed signal wakes it).
        _pipeline = new BatchPipeline(applier, new AcknowledgementTracker(_options.Batching.MaxInFlight, OnAcknowledged), time);
        _progress = new ReplicationProgress(_options.Batching, time);
    }

    /// <summary>The connection string of the replication session: the configured one plus the settings the value conversion needs.</summary>
    internal static string ReplicationConnectionString(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.Options = string.IsNullOrWhiteSpace(builder.Options)
            ? PostgresTextValues.RequiredSessionSettings
            : builder.Options + " " + PostgresTextValues.RequiredSessionSettings;
        builder.ApplicationName ??= "invalidator";
        return builder.ConnectionString;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Run(() => RunAsync(stoppingToken), CancellationToken.None);

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        try
        {
            var report = await _startup.CheckAsync(stoppingToken).ConfigureAwait(false);
            _decoder = new PgOutputDecoder(report.Tables, _options.DeadLetter.MaxRecordBytes);
            _slotKnownToExist = report.SlotExists && !_postgres.TemporarySlot;
            var reconnectDelay = FirstReconnectDelay;
            while (!stoppingToken.IsCancellationRequested)
            {
                // The slot keeps the confirmed position: reconnecting streams everything after it again.
                string reason;
                try
                {
                    await StreamAsync(() => reconnectDelay = FirstReconnectDelay, stoppingToken).ConfigureAwait(false);
                    reason = "the server ended the replication stream";
                    Log.ReplicationInterrupted(_logger, reason, reconnectDelay, null);
                }
                catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException && !stoppingToken.IsCancellationRequested)
                {
                    reason = ex.Message;
                    Log.ReplicationInterrupted(_logger, ex.Message, reconnectDelay, ex);
                    // A dropped slot is created again (changes made while it was gone cannot be streamed).
                    _slotKnownToExist &= ex is not PostgresException { SqlState: UndefinedObject };
                }

                _events.Publish(new SourceDisconnected(SourceName, reason));
                _events.Publish(new ConsumeLoopTicked(SourceName)); // waiting to reconnect is the loop at work, not a hang
                await Task.Delay(reconnectDelay, _time, stoppingToken).ConfigureAwait(false);
                reconnectDelay = TimeSpan.FromTicks(Math.Min(reconnectDelay.Ticks * 2, LastReconnectDelay.Ticks));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: what is unfinished is not confirmed and will be streamed again.
        }
        catch (PostgresSourceNotReadyException ex)
        {
            Log.PostgresSourceCannotStart(_logger, ex.Message);
            _exit.Fail(ex.Message, ExitCodes.ConfigurationError);
        }
        catch (Exception ex)
        {
            Log.WorkerCrashed(_logger, ex);
            _exit.Fail(ex.Message);
            throw;
        }
        finally
        {
            _events.Publish(new ConsumeLoopStopped(SourceName, _exit.Reason ?? (stoppingToken.IsCancellationRequested ? "shutting down" : "ended")));
            await _pipeline.AbandonAsync().ConfigureAwait(false);
            _pipeline.Tracker.Close();
        }
    }

    /// <summary>One replication session, until the connection fails or the worker stops.</summary>
    private async Task StreamAsync(Action onStreaming, CancellationToken stoppingToken)
    {
        var connection = new LogicalReplicationConnection(ReplicationConnectionString(PostgresCredentials.ConnectionString(_postgres)));
        await using (connection.ConfigureAwait(false))
        {
            await connection.Open(stoppingToken).ConfigureAwait(false);
            await EnsureSlotAsync(connection, stoppingToken).ConfigureAwait(false);

            using var session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            var messages = connection.StartReplication(
                new PgOutputReplicationSlot(_postgres.Slot),
                new PgOutputReplicationOptions(_postgres.Publication, PgOutputProtocolVersion.V1, binary: false, messages: true),
                session.Token);
            var enumerator = messages.GetAsyncEnumerator(session.Token);
            Task<bool>? next = null;
            var tracker = _pipeline.Tracker;
            var fill = _progress.Fill;
            try
            {
                Log.ReplicationStarted(_logger, _postgres.Publication, _postgres.Slot, connection.ServerVersion);
                _events.Publish(new SourceConnected(SourceName));
                while (true)
                {
                    _events.Publish(new ConsumeLoopTicked(SourceName));
                    tracker.ThrowIfFaulted();
                    await ConfirmAsync(connection, settledOnly: false, stoppingToken).ConfigureAwait(false);
                    next ??= enumerator.MoveNextAsync().AsTask();
                    if (fill.IsDue(_open.RecordCount, next.IsCompleted, tracker.InFlight, tracker.HasRoom))
                    {
                        await SubmitAsync(stoppingToken).ConfigureAwait(false);
                        continue;
                    }

                    if (!next.IsCompleted)
                    {
                        var wait = fill.PollTimeout(_open.RecordCount, tracker.InFlight, tracker.HasRoom, IdlePoll);
                        if (!await CompletesWithinAsync(next, wait, tracker.Changed, stoppingToken).ConfigureAwait(false))
                        {
                            if (_open.RecordCount == 0)
                            {
                                // Quiet and nothing waiting to be applied: confirm the server's position if all is done.
                                await ConfirmAsync(connection, settledOnly: true, stoppingToken).ConfigureAwait(false);
                            }

                            continue;
                        }
                    }

                    if (!await next.ConfigureAwait(false))
                    {
                        return; // the server ended the stream; the caller reconnects
                    }

                    next = null;
                    onStreaming();
                    await HandleAsync(enumerator.Current, stoppingToken).ConfigureAwait(false);
                }
            }
            finally
            {
                // Let the pending read see the cancellation before the enumerator and connection are disposed.
                await session.CancelAsync().ConfigureAwait(false);
                if (next is not null)
                {
                    await next.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default).ConfigureAwait(false);
                }

                await enumerator.DisposeAsync().ConfigureAwait(false);
                ForgetSession();
            }
        }
    }

    /// <summary>Creates the slot when it does not exist yet (a temporary slot in every session).</summary>
    private async Task EnsureSlotAsync(LogicalReplicationConnection connection, CancellationToken stoppingToken)
    {
        if (_slotKnownToExist)
        {
            return;
        }

        try
        {
            var slot = await connection.CreatePgOutputReplicationSlot(
                _postgres.Slot, _postgres.TemporarySlot, LogicalSlotSnapshotInitMode.NoExport, cancellationToken: stoppingToken).ConfigureAwait(false);
            Log.SlotCreated(_logger, _postgres.Slot, _postgres.TemporarySlot, slot.ConsistentPoint.ToString());
        }
        catch (PostgresException ex) when (ex.SqlState == DuplicateObject)
        {
            // Created meanwhile (by a previous session or another start): use it.
        }

        _slotKnownToExist = !_postgres.TemporarySlot;
    }

    private async Task HandleAsync(PgOutputReplicationMessage message, CancellationToken stoppingToken)
    {
        switch (message)
        {
            case BeginMessage begin:
                _progress.Begin(new DateTimeOffset(DateTime.SpecifyKind(begin.TransactionCommitTimestamp, DateTimeKind.Utc)));
                break;

            case CommitMessage commit:
                var (from, to) = _progress.Commit(commit.TransactionEndLsn);
                _open.Advance(SourceName, 0, from, to);
                if (_open.IsPositionOnly)
                {
                    // The transaction's changes went out in earlier batches (or it had none): its end is
                    // acknowledged as soon as they are done, without waiting for a batch to fill.
                    await SubmitAsync(stoppingToken).ConfigureAwait(false);
                }

                break;

            default:
                _changes.Clear();
                var commitTime = _progress.InTransaction ? _progress.CommitTime : null;
                try
                {
                    await _decoder.DecodeAsync(message, commitTime, _changes, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (IsUnreadable(ex))
                {
                    // A message the decoder cannot read is poison like any undecodable record: dead-lettered with what is
                    // known of it and the reason, instead of ending the worker on it again at every start.
                    _changes.Clear();
                    var unreadable = PgOutputDecoder.Unreadable(message, commitTime);
                    Plan(message, unreadable, _planner.Poison(SourceName, $"The replication message for {unreadable.Table} could not be decoded ({ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")})."));
                    break;
                }

                foreach (var (change, oversized) in _changes)
                {
                    if (_open.RecordCount == 0)
                    {
                        _planner.UseLatestRules(); // a reload takes effect between batches
                    }

                    Plan(message, change, oversized is null
                        ? _planner.Add(SourceName, change, _open.Invalidations)
                        : _planner.Poison(SourceName, change, oversized));
                }

                break;
        }
    }

    /// <summary>Tracks a planned change's position in the open batch, and its poison letter if it is poison.</summary>
    private void Plan(PgOutputReplicationMessage message, ChangeEvent change, PlannedRecord planned)
    {
        if (planned.IsPoison)
        {
            _open.AddPoison(new PoisonRecord(Slot, (long)(ulong)message.WalStart, message.WalStart.ToString(), planned.PoisonReason!, new ChangeContent(change)));
        }

        var (position, nextPosition, commitTime) = _progress.Change(message.WalEnd);
        _open.Track(SourceName, 0, position, nextPosition, commitTime);
        _progress.Fill.Added();
    }

    /// <summary>An exception about the message itself, not the connection (which reconnects) or the worker stopping.</summary>
    private static bool IsUnreadable(Exception exception) =>
        exception is not (NpgsqlException or IOException or TimeoutException or OperationCanceledException or OutOfMemoryException);

    /// <summary>Hands the open batch to the pipeline (which waits for a free slot) and starts a new one.</summary>
    private async Task SubmitAsync(CancellationToken stoppingToken)
    {
        var batch = _open;
        _open = _pipeline.NewBatch();
        _progress.Fill.Reset();
        await _pipeline.SubmitAsync(batch, () => _events.Publish(new ConsumeLoopTicked(SourceName)), stoppingToken).ConfigureAwait(false);
    }

    /// <summary>The tracker's acknowledgement (any thread): note it; the stream loop confirms it.</summary>
    private void OnAcknowledged(AcknowledgedPosition position)
    {
        long seen;
        do
        {
            seen = Interlocked.Read(ref _acknowledged);
        }
        while (position.Position > seen && Interlocked.CompareExchange(ref _acknowledged, position.Position, seen) != seen);
    }

    /// <summary>
    /// Confirms to the slot what the tracker acknowledged; with <paramref name="settledOnly"/> (the stream is quiet)
    /// also the server's last position when nothing read is unfinished. Sent at once rather than at Npgsql's next
    /// periodic status update.
    /// </summary>
    private async Task ConfirmAsync(LogicalReplicationConnection connection, bool settledOnly, CancellationToken stoppingToken)
    {
        _progress.Acknowledge(new NpgsqlLogSequenceNumber((ulong)Interlocked.Read(ref _acknowledged)));
        // A read in flight can at most have received a Begin, which carries no LSN, so LastReceivedLsn cannot
        // have moved past an unapplied commit while the open batch is empty and the tracker settled.
        var settled = settledOnly && _open.Progress.Count == 0 && _pipeline.Tracker.IsSettled(Slot);
        if (_progress.TakeConfirmation(connection.LastReceivedLsn, settled) is { } lsn)
        {
            connection.SetReplicationStatus(lsn);
            _confirmUnsent = true;
            Log.PositionConfirmed(_logger, lsn.ToString());
        }

        if (_confirmUnsent)
        {
            _confirmUnsent = false;
            try
            {
                await connection.SendStatusUpdate(stoppingToken).ConfigureAwait(false);
            }
            catch (InvalidOperationException)
            {
                // Not streaming any more: the pending read reports the failure that matters.
            }
        }
    }

    /// <summary>Waits for the task, the timeout, or a change in the tracker; true when the task completed.</summary>
    private async Task<bool> CompletesWithinAsync(Task task, TimeSpan timeout, Task trackerChanged, CancellationToken stoppingToken)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return false;
        }

        using var delayCancellation = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var delay = Task.Delay(timeout, _time, delayCancellation.Token);
        var first = await Task.WhenAny(task, delay, trackerChanged).ConfigureAwait(false);
        await delayCancellation.CancelAsync().ConfigureAwait(false);
        stoppingToken.ThrowIfCancellationRequested();
        return first == task;
    }

    /// <summary>
    /// Drops what the lost session streamed but did not confirm: the next session streams it again. Batches of
    /// the old session still in flight finish, but nothing they cover is confirmed.
    /// </summary>
    private void ForgetSession()
    {
        _pipeline.Tracker.Drop([Slot]);
        Interlocked.Exchange(ref _acknowledged, 0);
        _open = new SourceBatch();
        _changes.Clear();
        _decoder.Reset();
        _progress.Reset();
        _confirmUnsent = false;
    }
}
