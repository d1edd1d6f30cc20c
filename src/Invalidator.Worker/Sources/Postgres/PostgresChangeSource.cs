using System.Data.Common;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// Reads Postgres logical replication (pgoutput) directly for the <see cref="SourceRunner"/>, which batches and
/// invalidates the changes, streaming and planning the next batch while earlier ones are applied (at most
/// <c>Invalidator:Batching:MaxInFlight</c> at once). What only this source knows: the replication session (and
/// reconnecting it), the slot, turning messages into changes and transaction boundaries, and confirming an LSN.
///
/// Delivery guarantee: at-least-once. pgoutput sends whole committed transactions in commit order. A
/// transaction's end LSN is confirmed to the slot (<c>SetReplicationStatus</c>) only when the
/// <see cref="AcknowledgementTracker"/> says every batch holding its changes, and everything before them, is
/// done: applied in every region or written to the dead-letter table, and its poison changes written there.
/// Npgsql's automatic status updates only ever repeat that confirmed LSN. A crash, a lost connection or a shutdown
/// mid-batch leaves the rest unconfirmed, and the slot streams it again; repeating a delete is harmless.
/// </summary>
internal sealed class PostgresChangeSource : ChangeSourceService
{
    public const string SourceName = "postgres";
    private const string UndefinedObject = "42704";
    private static readonly TimeSpan FirstReconnectDelay = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan LastReconnectDelay = TimeSpan.FromSeconds(30);
    private static readonly SourcePartition Slot = new(SourceName, 0);
    internal const int ReplicationReadBufferSize = 64 * 1024;

    private readonly PostgresOptions _postgres;
    private readonly PostgresSourceStartup _startup;
    private readonly ReplicationProgress _progress = new();
    private readonly List<DecodedChange> _changes = [];

    private PgOutputDecoder _decoder = new(new Dictionary<string, RuleTableInfo>());
    private bool _slotKnownToExist;
    private TimeSpan _reconnectDelay = FirstReconnectDelay;
    private long? _reconnectAt;
    private ReplicationSession? _session;

    // The changes of the last message not handed to the runner yet (a TRUNCATE of several tables), and where it was.
    private int _nextChange;
    private NpgsqlLogSequenceNumber _changesStart;
    private NpgsqlLogSequenceNumber _changesEnd;

    public PostgresChangeSource(SourceHost host, RuleSet rules, ILogger<PostgresChangeSource> logger, PostgresDeadLetterTable deadLetters)
        : base(SourceName, host, logger)
    {
        _postgres = Options.Postgres;
        _startup = new PostgresSourceStartup(_postgres, rules, deadLetters, host.Events, logger, host.Time);
    }

    /// <summary>The connection string of the replication session: the configured one plus the settings the value conversion needs.</summary>
    internal static string ReplicationConnectionString(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.Options = string.IsNullOrWhiteSpace(builder.Options)
            ? PostgresTextValues.RequiredSessionSettings
            : builder.Options + " " + PostgresTextValues.RequiredSessionSettings;
        builder.ApplicationName ??= "invalidator";
        if (!SetsReadBufferSize(connectionString))
        {
            // The stream is a run of small messages: each refill of Npgsql's 8 KiB default is a socket read and an
            // asynchronous completion that the source loop then continues from.
            builder.ReadBufferSize = ReplicationReadBufferSize;
        }

        return builder.ConnectionString;
    }

    /// <summary>Whether the session's text values are UTF-8: Npgsql's test for its own decoding (its default <c>Encoding</c>).</summary>
    internal static bool TextIsUtf8(string connectionString) => new NpgsqlConnectionStringBuilder(connectionString).Encoding == "UTF8";

    // The builder knows every keyword, set or not: the keywords the string itself holds, spaces aside.
    private static bool SetsReadBufferSize(string connectionString) =>
        new DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
            .Any(k => string.Equals(k.Replace(" ", "", StringComparison.Ordinal), nameof(NpgsqlConnectionStringBuilder.ReadBufferSize), StringComparison.OrdinalIgnoreCase));

    protected override async Task<bool> OpenAsync(CancellationToken stoppingToken)
    {
        try
        {
            var report = await _startup.CheckAsync(stoppingToken).ConfigureAwait(false);
            _decoder = new PgOutputDecoder(
                report.Tables, Options.DeadLetter.MaxRecordBytes, TextIsUtf8(PostgresCredentials.ConnectionString(_postgres)));
            _slotKnownToExist = report.SlotExists && !_postgres.TemporarySlot;
            return true;
        }
        catch (PostgresSourceNotReadyException ex)
        {
            Log.PostgresSourceCannotStart(Logger, ex.Message);
            Exit.Fail(ex.Message, ExitCodes.ConfigurationError);
            return false;
        }
    }

    protected override ValueTask CloseAsync() => EndSessionAsync();

    /// <summary>
    /// The next change, or a transaction's commit as a position; while the stream is quiet, the server's position
    /// (<see cref="ReplicationProgress.Idle"/>). A lost session is reconnected, after a growing delay; the slot keeps the
    /// confirmed position, so the next session streams everything after it again.
    /// </summary>
    public override async ValueTask<SourceRead> ReadAsync(TimeSpan wait, Task wake, CancellationToken cancellationToken)
    {
        if (_nextChange < _changes.Count)
        {
            return NextChange();
        }

        try
        {
            if (_session is null && !await ConnectAsync(wait, cancellationToken).ConfigureAwait(false))
            {
                return SourceRead.Nothing;
            }

            await _session!.SendConfirmationAsync(cancellationToken).ConfigureAwait(false);
            while (true)
            {
                switch (await _session.NextAsync(wait, wake, cancellationToken).ConfigureAwait(false))
                {
                    case false:
                        return _progress.Idle(_session.LastReceivedLsn) is { } idle ? SourceRead.Advance(Slot, idle.From, idle.To) : SourceRead.Nothing;
                    case null:
                        await LoseSessionAsync("the server ended the replication stream", null).ConfigureAwait(false);
                        return SourceRead.Nothing;
                }

                _reconnectDelay = FirstReconnectDelay;
                var read = await HandleAsync(_session.Current, cancellationToken).ConfigureAwait(false);
                if (read.Kind != SourceReadKind.Nothing)
                {
                    return read;
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or IOException or TimeoutException && !cancellationToken.IsCancellationRequested)
        {
            await LoseSessionAsync(ex.Message, ex).ConfigureAwait(false);
            return SourceRead.Nothing;
        }
    }

    /// <summary>The tracker's acknowledgement, on the runner's loop: confirmed to the slot, sent with the next read.</summary>
    public override void Acknowledge(AcknowledgedPosition position)
    {
        _progress.Acknowledge(new NpgsqlLogSequenceNumber((ulong)position.Position));
        if (_session is not null && _progress.TakeConfirmation() is { } lsn)
        {
            _session.Confirm(lsn);
            Log.PositionConfirmed(Logger, lsn.ToString());
        }
    }

    /// <summary>Opens a replication session once the reconnect delay has passed; false while it has not (waiting at most <paramref name="wait"/>).</summary>
    private async Task<bool> ConnectAsync(TimeSpan wait, CancellationToken cancellationToken)
    {
        if (_reconnectAt is { } at && Time.GetElapsedTime(at) < _reconnectDelay)
        {
            // Waiting to reconnect is the loop at work, not a hang: the runner ticks between the waits.
            var left = _reconnectDelay - Time.GetElapsedTime(at);
            await Task.Delay(left < wait ? left : wait, Time, cancellationToken).ConfigureAwait(false);
            return false;
        }

        if (_reconnectAt is not null)
        {
            _reconnectDelay = TimeSpan.FromTicks(Math.Min(_reconnectDelay.Ticks * 2, LastReconnectDelay.Ticks));
            _reconnectAt = null;
        }

        _session = await ReplicationSession.OpenAsync(_postgres, _slotKnownToExist, Logger, Time, cancellationToken).ConfigureAwait(false);
        _slotKnownToExist = !_postgres.TemporarySlot;
        Events.Publish(new SourceConnected(SourceName));
        return true;
    }

    /// <summary>A message as the runner reads it: a change, a commit's position, or nothing (a begin, a message without changes).</summary>
    private async ValueTask<SourceRead> HandleAsync(PgOutputReplicationMessage message, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case BeginMessage begin:
                _progress.Begin(new DateTimeOffset(DateTime.SpecifyKind(begin.TransactionCommitTimestamp, DateTimeKind.Utc)));
                return SourceRead.Nothing;

            case CommitMessage commit:
                var (from, to) = _progress.Commit(commit.TransactionEndLsn);
                Runner.Open.TransactionEnded((ulong)commit.TransactionEndLsn);
                return SourceRead.Advance(Slot, from, to);
        }

        _changes.Clear();
        _nextChange = 0;
        var commitTime = _progress.InTransaction ? _progress.CommitTime : null;
        try
        {
            await _decoder.DecodeAsync(message, commitTime, _changes, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsUnreadable(ex))
        {
            // A message the decoder cannot read is poison like any undecodable record: dead-lettered with what is
            // known of it and the reason, instead of ending the worker on it again at every start.
            _changes.Clear();
            var unreadable = PgOutputDecoder.Unreadable(message, commitTime);
            var planned = Runner.Open.Poison(SourceName, $"The replication message for {unreadable.Table} could not be decoded ({ex.GetType().Name}: {ex.Message.ReplaceLineEndings(" ")}).");
            return Planned(message.WalStart, message.WalEnd, unreadable, planned);
        }

        _changesStart = message.WalStart;
        _changesEnd = message.WalEnd;
        return _changes.Count > 0 ? NextChange() : SourceRead.Nothing;
    }

    /// <summary>Plans the next decoded change of the last message into the runner's open batch.</summary>
    private SourceRead NextChange()
    {
        var (change, oversized) = _changes[_nextChange++];
        var planned = oversized is null
            ? Runner.Open.Plan(SourceName, change)
            : Runner.Open.Poison(SourceName, change, oversized);
        return Planned(_changesStart, _changesEnd, change, planned);
    }

    /// <summary>A planned change's position in the stream, and its poison letter if it is poison.</summary>
    private SourceRead Planned(NpgsqlLogSequenceNumber walStart, NpgsqlLogSequenceNumber walEnd, ChangeEvent change, PlannedRecord planned)
    {
        var poison = planned.IsPoison
            ? new PoisonRecord(Slot, (long)(ulong)walStart, walStart.ToString(), planned.PoisonReason!, new ChangeContent(change))
            : null;
        if (_progress.InTransaction)
        {
            Runner.Open.ChangeInTransaction();
        }

        var (position, nextPosition, commitTime) = _progress.Change(walEnd);
        return SourceRead.Record(Slot, position, nextPosition, commitTime, poison);
    }

    /// <summary>An exception about the message itself, not the connection (which reconnects) or the worker stopping.</summary>
    private static bool IsUnreadable(Exception exception) =>
        exception is not (NpgsqlException or IOException or TimeoutException or OperationCanceledException or OutOfMemoryException);

    /// <summary>
    /// The session failed or the server ended it: what it streamed but did not confirm is dropped (the next session
    /// streams it again; batches of the old session still in flight finish, but nothing they cover is confirmed), and
    /// the next session starts after the reconnect delay.
    /// </summary>
    private async Task LoseSessionAsync(string reason, Exception? exception)
    {
        Log.ReplicationInterrupted(Logger, reason, _reconnectDelay, exception);
        // A dropped slot is created again (changes made while it was gone cannot be streamed).
        _slotKnownToExist &= exception is not PostgresException { SqlState: UndefinedObject };
        Events.Publish(new SourceDisconnected(SourceName, reason));
        await EndSessionAsync().ConfigureAwait(false);
        _reconnectAt = Time.GetTimestamp();
    }

    /// <summary>Ends the replication session, if there is one, and forgets what it streamed but did not confirm.</summary>
    private async ValueTask EndSessionAsync()
    {
        if (_session is not { } session)
        {
            return;
        }

        // Finished work is confirmed while the session is still there; the rest is dropped.
        Runner.Drop([Slot]);
        Runner.Open.TransactionLost();
        _session = null;
        await session.DisposeAsync().ConfigureAwait(false);
        _changes.Clear();
        _nextChange = 0;
        _decoder.Reset();
        _progress.Reset();
    }
}
