using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;
using Invalidator.Worker.Cli;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
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
/// Reads Postgres logical replication (pgoutput) directly and invalidates in batches.
///
/// Delivery guarantee: at-least-once. pgoutput sends whole committed transactions in commit order. A
/// transaction's end LSN is confirmed to the slot (<c>SetReplicationStatus</c>) only after every region applied
/// the deletes of that transaction and of everything before it; Npgsql's automatic status updates only ever
/// repeat that confirmed LSN. A crash, a lost connection or a shutdown mid-batch leaves the rest unconfirmed,
/// and the slot streams it again; repeating a delete is harmless. A region that cannot apply a batch gets it
/// written to the dead-letter table (BatchApplier), and a change whose rules cannot be evaluated is written
/// there too before its LSN is confirmed: a failed write confirms nothing.
/// </summary>
internal sealed class PostgresChangeSource : BackgroundService
{
    private const string SourceName = "postgres";
    private const string DuplicateObject = "42710";
    private const string UndefinedObject = "42704";
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan SlotBusyGrace = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan SlotBusyPoll = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan FirstReconnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastReconnectDelay = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DeadLetterRetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly InvalidatorOptions _options;
    private readonly PostgresOptions _postgres;
    private readonly RuleSet _rules;
    private readonly ChangeRecordPlanner _planner;
    private readonly BatchApplier _applier;
    private readonly WorkerExit _exit;
    private readonly ILogger<PostgresChangeSource> _logger;
    private readonly TimeProvider _time;
    private readonly WorkerStatus _status;
    private readonly PostgresDeadLetterStore _deadLetters;

    private readonly SourceBatch _batch = new();
    private readonly List<(ChangeEvent Change, string Reason, NpgsqlLogSequenceNumber Lsn)> _poison = [];
    private readonly List<ChangeEvent> _changes = [];
    private PgOutputDecoder _decoder = new(new Dictionary<string, RuleTableInfo>());
    private bool _slotKnownToExist;

    // Where the stream is: inside a transaction (between Begin and Commit) or at a boundary.
    private bool _inTransaction;
    private DateTimeOffset? _commitTime;

    // The batch's position must name a transaction boundary. A change is tracked with the end of the last
    // whole transaction (_boundary), except the open transaction's latest change, which is held back and
    // tracked at the commit with the transaction's own end: so a batch cut mid-transaction confirms only what
    // precedes the transaction, and the commit moves the position past it.
    private bool _holdingChange;
    private NpgsqlLogSequenceNumber _boundary;
    private long? _batchStartedAt;
    private NpgsqlLogSequenceNumber _confirmed;
    private bool _confirmUnsent;

    public PostgresChangeSource(
        IOptions<InvalidatorOptions> options,
        RuleSet rules,
        ChangeRecordPlanner planner,
        BatchApplier applier,
        WorkerExit exit,
        ILogger<PostgresChangeSource> logger,
        TimeProvider time,
        WorkerStatus status,
        PostgresDeadLetterStore deadLetters)
    {
        _options = options.Value;
        _postgres = _options.Postgres;
        _rules = rules;
        _planner = planner;
        _applier = applier;
        _exit = exit;
        _logger = logger;
        _time = time;
        _status = status;
        _deadLetters = deadLetters;
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
            var report = await CheckAsync(stoppingToken).ConfigureAwait(false);
            _decoder = new PgOutputDecoder(report.Tables);
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

                _status.SourceDisconnected(SourceName, reason);
                _status.ConsumeLoopTick(SourceName); // waiting to reconnect is the loop at work, not a hang
                await Task.Delay(reconnectDelay, _time, stoppingToken).ConfigureAwait(false);
                reconnectDelay = TimeSpan.FromTicks(Math.Min(reconnectDelay.Ticks * 2, LastReconnectDelay.Ticks));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown cut the batch short: it is not confirmed and will be streamed again.
        }
        catch (PostgresSourceNotReadyException ex)
        {
            Log.PostgresSourceCannotStart(_logger, ex.Message);
            _exit.Fail(ex.Message, RunCommand.ConfigurationError);
        }
        catch (Exception ex)
        {
            Log.WorkerCrashed(_logger, ex);
            _exit.Fail(ex.Message);
            throw;
        }
        finally
        {
            _status.ConsumeLoopStopped(SourceName, _exit.Reason ?? (stoppingToken.IsCancellationRequested ? "shutting down" : "ended"));
        }
    }

    /// <summary>
    /// The start-up checks. A slot still held by a previous worker that is disconnecting is waited for; any
    /// other error stops the start with the checks' messages.
    /// </summary>
    private async Task<PostgresCheckReport> CheckAsync(CancellationToken stoppingToken)
    {
        var started = _time.GetTimestamp();
        var waitLogged = false;
        while (true)
        {
            var report = await PostgresSourceChecks.RunAsync(
                _postgres.ConnectionString, _postgres.Publication, _postgres.Slot, _rules, stoppingToken).ConfigureAwait(false);
            var onlyBusy = report.SlotActivePid is { } pid && report.Findings.Count(f => f.Severity == CheckSeverity.Error) == 1;
            if (onlyBusy && _time.GetElapsedTime(started) < SlotBusyGrace)
            {
                if (!waitLogged)
                {
                    Log.SlotBusyWaiting(_logger, _postgres.Slot, report.SlotActivePid!.Value, SlotBusyGrace);
                    waitLogged = true;
                }

                _status.ConsumeLoopTick(SourceName);
                await Task.Delay(SlotBusyPoll, _time, stoppingToken).ConfigureAwait(false);
                continue;
            }

            foreach (var finding in report.Findings)
            {
                switch (finding.Severity)
                {
                    case CheckSeverity.Error: Log.PostgresCheckFailed(_logger, finding.Message); break;
                    case CheckSeverity.Warning: Log.PostgresCheckWarning(_logger, finding.Message); break;
                    default: Log.PostgresCheckInfo(_logger, finding.Message); break;
                }
            }

            if (report.HasErrors)
            {
                throw new PostgresSourceNotReadyException(string.Join(" ", report.Findings.Where(f => f.Severity == CheckSeverity.Error).Select(f => f.Message)));
            }

            try
            {
                await _deadLetters.EnsureTableAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException && !stoppingToken.IsCancellationRequested)
            {
                throw new PostgresSourceNotReadyException(
                    $"The dead-letter table {_deadLetters.Table} (Invalidator:DeadLetter:Table, in the database of Invalidator:DeadLetter:ConnectionString " +
                    $"or else Invalidator:Postgres:ConnectionString) cannot be created or used: {ex.Message}. Create it (and its schema) or grant the worker's user CREATE on the schema.");
            }

            return report;
        }
    }

    /// <summary>One replication session, until the connection fails or the worker stops.</summary>
    private async Task StreamAsync(Action onStreaming, CancellationToken stoppingToken)
    {
        var connection = new LogicalReplicationConnection(ReplicationConnectionString(_postgres.ConnectionString));
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
            try
            {
                Log.ReplicationStarted(_logger, _postgres.Publication, _postgres.Slot, connection.ServerVersion);
                _status.SourceConnected(SourceName);
                while (true)
                {
                    _status.ConsumeLoopTick(SourceName);
                    next ??= enumerator.MoveNextAsync().AsTask();
                    if (!next.IsCompleted && !await CompletesWithinAsync(next, WaitTime(), stoppingToken).ConfigureAwait(false))
                    {
                        await OnQuietAsync(connection, stoppingToken).ConfigureAwait(false);
                        continue;
                    }

                    if (!await next.ConfigureAwait(false))
                    {
                        return; // the server ended the stream; the caller reconnects
                    }

                    next = null;
                    onStreaming();
                    await HandleAsync(enumerator.Current, connection, stoppingToken).ConfigureAwait(false);
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

    private async Task HandleAsync(PgOutputReplicationMessage message, LogicalReplicationConnection connection, CancellationToken stoppingToken)
    {
        switch (message)
        {
            case BeginMessage begin:
                _inTransaction = true;
                _commitTime = new DateTimeOffset(DateTime.SpecifyKind(begin.TransactionCommitTimestamp, DateTimeKind.Utc));
                break;

            case CommitMessage commit:
                OnCommit(commit.TransactionEndLsn, connection);
                break;

            default:
                _changes.Clear();
                await _decoder.DecodeAsync(message, _inTransaction ? _commitTime : null, _changes, stoppingToken).ConfigureAwait(false);
                foreach (var change in _changes)
                {
                    var planned = _planner.Add(SourceName, change, _batch.Invalidations);
                    if (planned.IsPoison)
                    {
                        _poison.Add((change, planned.PoisonReason!, message.WalStart));
                    }

                    _batchStartedAt ??= _time.GetTimestamp();
                    if (!_inTransaction)
                    {
                        // A non-transactional logical message: its own LSN is a boundary.
                        var previous = _boundary;
                        _boundary = message.WalEnd > _boundary ? message.WalEnd : _boundary;
                        _batch.Track(SourceName, 0, (long)(ulong)previous, (long)(ulong)_boundary, null);
                        continue;
                    }

                    if (_holdingChange)
                    {
                        // Positions of changes inside a transaction are not known: the batch covers from the
                        // boundary before them.
                        _batch.Track(SourceName, 0, (long)(ulong)_boundary, (long)(ulong)_boundary, _commitTime);
                    }

                    _holdingChange = true;
                }

                break;
        }

        if (_batch.RecordCount + (_holdingChange ? 1 : 0) >= _options.Batching.MaxRecords)
        {
            await ApplyAsync(connection, stoppingToken).ConfigureAwait(false);
        }
    }

    private void OnCommit(NpgsqlLogSequenceNumber endLsn, LogicalReplicationConnection connection)
    {
        if (_holdingChange)
        {
            _batch.Track(SourceName, 0, (long)(ulong)_boundary, (long)(ulong)endLsn, _commitTime);
            _batchStartedAt ??= _time.GetTimestamp(); // its deletes may have gone out already, its position not
            _holdingChange = false;
        }

        _inTransaction = false;
        _boundary = endLsn;
        if (_batch.RecordCount == 0)
        {
            // Nothing waits to be applied (the transaction changed nothing published): confirm it right away.
            SetConfirmed(connection, endLsn);
        }
    }

    /// <summary>Nothing arrived for a while: apply a batch that has waited MaxWait, or, when idle, confirm the server's position.</summary>
    private async Task OnQuietAsync(LogicalReplicationConnection connection, CancellationToken stoppingToken)
    {
        if (_batchStartedAt is not null)
        {
            if (WaitTime() <= TimeSpan.Zero)
            {
                await ApplyAsync(connection, stoppingToken).ConfigureAwait(false);
            }

            return;
        }

        // Everything received is applied and no transaction is open: LastReceivedLsn (the last commit or
        // keepalive position) has nothing unapplied before it. Confirming it lets the slot release WAL that
        // only other tables or databases wrote. (A read in flight can at most have received a Begin, which
        // carries no LSN, so it cannot have moved LastReceivedLsn past an unapplied commit.)
        if (!_inTransaction && connection.LastReceivedLsn > _confirmed)
        {
            SetConfirmed(connection, connection.LastReceivedLsn);
        }

        if (_confirmUnsent)
        {
            await SendStatusAsync(connection, stoppingToken).ConfigureAwait(false);
        }
    }

    private async Task ApplyAsync(LogicalReplicationConnection connection, CancellationToken stoppingToken)
    {
        if (_batch.Invalidations.PlanCount == 0 && _batch.RecordCount == 0)
        {
            _batchStartedAt = null;
            return;
        }

        await DeadLetterPoisonAsync(stoppingToken).ConfigureAwait(false);
        await _applier.ApplyAsync(_batch, stoppingToken).ConfigureAwait(false);

        long? position = null;
        foreach (var progress in _batch.Progress)
        {
            position = Math.Max(position ?? long.MinValue, progress.NextPosition);
        }

        // A held change's deletes went out too; it is tracked (and its transaction confirmed) at the commit.
        _batch.Clear();
        _batchStartedAt = null;
        if (position is { } lsn)
        {
            SetConfirmed(connection, new NpgsqlLogSequenceNumber((ulong)lsn));
            await SendStatusAsync(connection, stoppingToken).ConfigureAwait(false);
        }
    }

    /// <summary>The batch's poison changes go to the dead-letter table before anything is confirmed; a failed write is retried.</summary>
    private async Task DeadLetterPoisonAsync(CancellationToken stoppingToken)
    {
        foreach (var (change, reason, lsn) in _poison)
        {
            while (true)
            {
                try
                {
                    await _deadLetters.WritePoisonAsync(change, reason, lsn, stoppingToken).ConfigureAwait(false);
                    break;
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
                {
                    _status.ConsumeLoopTick(SourceName); // waiting for the table is the loop at work, not a hang
                    await Task.Delay(DeadLetterRetryDelay, _time, stoppingToken).ConfigureAwait(false);
                }
            }
        }

        _poison.Clear();
    }

    /// <summary>
    /// Pushes the confirmed position now rather than at Npgsql's next periodic status update. Best effort: a
    /// connection that just broke refuses, and the pending read reports the failure that matters.
    /// </summary>
    private async Task SendStatusAsync(LogicalReplicationConnection connection, CancellationToken stoppingToken)
    {
        _confirmUnsent = false;
        try
        {
            await connection.SendStatusUpdate(stoppingToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Not streaming any more.
        }
    }

    private void SetConfirmed(LogicalReplicationConnection connection, NpgsqlLogSequenceNumber lsn)
    {
        if (lsn <= _confirmed)
        {
            return;
        }

        connection.SetReplicationStatus(lsn);
        _confirmed = lsn;
        _confirmUnsent = true;
        Log.PositionConfirmed(_logger, lsn.ToString());
    }

    /// <summary>How long to wait for the next message: what is left of MaxWait for a started batch, else the idle poll.</summary>
    private TimeSpan WaitTime() =>
        _batchStartedAt is { } started ? _options.Batching.MaxWait - _time.GetElapsedTime(started) : IdlePoll;

    private async Task<bool> CompletesWithinAsync(Task task, TimeSpan timeout, CancellationToken stoppingToken)
    {
        if (timeout <= TimeSpan.Zero)
        {
            return false;
        }

        using var delayCancellation = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        var delay = Task.Delay(timeout, _time, delayCancellation.Token);
        var first = await Task.WhenAny(task, delay).ConfigureAwait(false);
        await delayCancellation.CancelAsync().ConfigureAwait(false);
        stoppingToken.ThrowIfCancellationRequested();
        return first == task;
    }

    /// <summary>Drops what the lost session streamed but did not confirm: the next session streams it again.</summary>
    private void ForgetSession()
    {
        _batch.Clear();
        _poison.Clear();
        _changes.Clear();
        _decoder.Reset();
        _holdingChange = false;
        _boundary = default;
        _confirmUnsent = false;
        _batchStartedAt = null;
        _inTransaction = false;
        _commitTime = null;
        _confirmed = default;
    }
}

/// <summary>The start-up checks found errors; the message lists them with their fixes.</summary>
internal sealed class PostgresSourceNotReadyException(string message) : Exception(message);
