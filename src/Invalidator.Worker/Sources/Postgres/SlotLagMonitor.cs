using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// <c>invalidator_slot_lag_bytes</c>: how much WAL the server has written past the slot's confirmed position, polled
/// every <see cref="Interval"/> on a connection of its own (never on the replication session), so it also moves while
/// the stream is down. Messages cannot be counted in direct mode: these bytes are its message lag. While the worker
/// is idle the stream's keepalives move the confirmed position on, so it stays near 0; WAL the worker does not
/// confirm (a stream that is down, batches that do not finish) makes it grow.
/// </summary>
internal sealed class SlotLagMonitor(IOptions<InvalidatorOptions> options, WorkerEvents events, ILogger<SlotLagMonitor> logger, TimeProvider time) : BackgroundService
{
    /// <summary>How often the slot is polled: one small query; the gauge is this stale at most.</summary>
    internal static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    // On a standby (logical decoding from a standby), the position it has received is the server's position.
    private const string Query = """
        SELECT pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, confirmed_flush_lsn)::bigint
        FROM pg_replication_slots WHERE slot_name = $1
        """;

    private readonly PostgresOptions _postgres = options.Value.Postgres;
    private bool _failing;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                await PollAsync(stoppingToken).ConfigureAwait(false);
                await Task.Delay(Interval, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown.
        }
    }

    private async Task PollAsync(CancellationToken stoppingToken)
    {
        try
        {
            var builder = new NpgsqlConnectionStringBuilder(PostgresCredentials.ConnectionString(_postgres)) { ApplicationName = "invalidator-slot-lag" };
            var connection = new NpgsqlConnection(builder.ConnectionString);
            await using (connection.ConfigureAwait(false))
            {
                await connection.OpenAsync(stoppingToken).ConfigureAwait(false);
                var command = new NpgsqlCommand(Query, connection) { Parameters = { new() { Value = _postgres.Slot } } };
                await using (command.ConfigureAwait(false))
                {
                    // No row before the slot exists (the source creates it); NULL before it confirmed anything.
                    var bytes = await command.ExecuteScalarAsync(stoppingToken).ConfigureAwait(false) is long diff ? Math.Max(0, diff) : (long?)null;
                    events.Publish(new SlotLagPolled(_postgres.Slot, bytes, null));
                    if (_failing && bytes is { } known)
                    {
                        _failing = false;
                        Log.SlotLagReadable(logger, _postgres.Slot, known);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
        {
            var reason = Log.Describe(ex);
            events.Publish(new SlotLagPolled(_postgres.Slot, null, reason));
            if (!_failing)
            {
                _failing = true;
                Log.SlotLagUnreadable(logger, _postgres.Slot, reason);
            }
        }
    }
}
