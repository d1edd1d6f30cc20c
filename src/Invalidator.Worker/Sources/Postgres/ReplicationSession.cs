using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;
using NpgsqlTypes;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// One replication session: a connection streaming the slot's pgoutput messages, read one at a time within a wait,
/// and the positions confirmed to the slot. Disposing it ends the session; the slot keeps the confirmed position.
/// </summary>
internal sealed class ReplicationSession : IAsyncDisposable
{
    private const string DuplicateObject = "42710";

    private readonly LogicalReplicationConnection _connection;
    private readonly CancellationTokenSource _session;
    private readonly TimeProvider _time;
    private IAsyncEnumerator<PgOutputReplicationMessage>? _messages;
    private Task<bool>? _next;
    private bool _confirmUnsent;

    private ReplicationSession(string connectionString, TimeProvider time, CancellationToken stoppingToken)
    {
        _session = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        _connection = new LogicalReplicationConnection(connectionString);
        _time = time;
    }

    /// <summary>The server's last position this session received (a message's or a keepalive's).</summary>
    public NpgsqlLogSequenceNumber LastReceivedLsn => _connection.LastReceivedLsn;

    /// <summary>The message <see cref="NextAsync"/> read last.</summary>
    public PgOutputReplicationMessage Current => _messages!.Current;

    /// <summary>Connects, creates the slot unless <paramref name="slotExists"/>, and starts streaming the publication.</summary>
    public static async Task<ReplicationSession> OpenAsync(PostgresOptions postgres, bool slotExists, ILogger logger, TimeProvider time, CancellationToken stoppingToken)
    {
        var session = new ReplicationSession(PostgresChangeSource.ReplicationConnectionString(PostgresCredentials.ConnectionString(postgres)), time, stoppingToken);
        var connection = session._connection;
        try
        {
            await connection.Open(stoppingToken).ConfigureAwait(false);
            if (!slotExists)
            {
                await CreateSlotAsync(connection, postgres, logger, stoppingToken).ConfigureAwait(false);
            }

            session._messages = connection.StartReplication(
                new PgOutputReplicationSlot(postgres.Slot),
                new PgOutputReplicationOptions(postgres.Publication, PgOutputProtocolVersion.V1, binary: false, messages: true),
                session._session.Token).GetAsyncEnumerator(session._session.Token);
            Log.ReplicationStarted(logger, postgres.Publication, postgres.Slot, connection.ServerVersion);
            return session;
        }
        catch
        {
            await session.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Reads the next message within <paramref name="wait"/> (or until <paramref name="wake"/>): true with it in
    /// <see cref="Current"/>, false when none came, null when the server ended the stream.
    /// </summary>
    public async ValueTask<bool?> NextAsync(TimeSpan wait, Task wake, CancellationToken stoppingToken)
    {
        _next ??= _messages!.MoveNextAsync().AsTask();
        if (!_next.IsCompleted && !await CompletesWithinAsync(_next, wait, wake, stoppingToken).ConfigureAwait(false))
        {
            return false;
        }

        var next = _next;
        _next = null;
        return await next.ConfigureAwait(false) ? true : null;
    }

    /// <summary>Confirms <paramref name="lsn"/> to the slot; <see cref="SendConfirmationAsync"/> sends it.</summary>
    public void Confirm(NpgsqlLogSequenceNumber lsn)
    {
        _connection.SetReplicationStatus(lsn);
        _confirmUnsent = true;
    }

    /// <summary>Sends the confirmed position at once rather than at Npgsql's next periodic status update.</summary>
    public async Task SendConfirmationAsync(CancellationToken stoppingToken)
    {
        if (!_confirmUnsent)
        {
            return;
        }

        _confirmUnsent = false;
        try
        {
            await _connection.SendStatusUpdate(stoppingToken).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Not streaming any more: the pending read reports the failure that matters.
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Let the pending read see the cancellation before the enumerator and connection are disposed.
        await _session.CancelAsync().ConfigureAwait(false);
        if (_next is not null)
        {
            await _next.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default).ConfigureAwait(false);
        }

        if (_messages is not null)
        {
            await _messages.DisposeAsync().ConfigureAwait(false);
        }

        await _connection.DisposeAsync().ConfigureAwait(false);
        _session.Dispose();
    }

    /// <summary>Creates the slot (a temporary slot in every session).</summary>
    private static async Task CreateSlotAsync(LogicalReplicationConnection connection, PostgresOptions postgres, ILogger logger, CancellationToken stoppingToken)
    {
        try
        {
            var slot = await connection.CreatePgOutputReplicationSlot(
                postgres.Slot, postgres.TemporarySlot, LogicalSlotSnapshotInitMode.NoExport, cancellationToken: stoppingToken).ConfigureAwait(false);
            Log.SlotCreated(logger, postgres.Slot, postgres.TemporarySlot, slot.ConsistentPoint.ToString());
        }
        catch (PostgresException ex) when (ex.SqlState == DuplicateObject)
        {
            // Created meanwhile (by a previous session or another start): use it.
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
}
