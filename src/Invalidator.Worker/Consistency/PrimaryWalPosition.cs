using Npgsql;
using NpgsqlTypes;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// The primary's current WAL position (<c>pg_current_wal_lsn()</c>): the position to wait for when a batch's own is not
/// known (Kafka mode: connection <c>Invalidator:Consistency:Primary</c>; direct mode, for a batch whose transaction's end
/// never came: the source's connection). Debezium's <c>source.lsn</c> is a change's own position, before its commit
/// record; the primary's current position, read after the batch's records were consumed, is at or past the commit of
/// every change in it. Readings are shared: a batch takes the first one that started after it was cut, so the primary
/// sees one query at a time however many batches wait.
/// </summary>
internal sealed class PrimaryWalPosition : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private Task<ulong>? _reading;
    private long _readingStarted;
    private ulong _last;
    private long _lastStarted = long.MinValue;

    public PrimaryWalPosition(string connectionString, TimeProvider time)
    {
        _dataSource = new NpgsqlDataSourceBuilder(connectionString) { Name = "invalidator-primary" }.Build();
        _time = time;
    }

    /// <summary>The primary's position as read by a query that started at or after <paramref name="since"/> (a <see cref="TimeProvider.GetTimestamp"/>).</summary>
    public async ValueTask<ulong> ReadSinceAsync(long since, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task<ulong> reading;
            bool covers;
            lock (_lock)
            {
                if (_lastStarted >= since)
                {
                    return _last;
                }

                if (_reading is null)
                {
                    var started = _time.GetTimestamp();
                    _readingStarted = started;
                    _reading = Task.Run(() => ReadAsync(started), CancellationToken.None);
                }

                reading = _reading;
                covers = _readingStarted >= since;
            }

            var lsn = await reading.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (covers)
            {
                return lsn;
            }

            // That query started before the batch was cut: the next one will do.
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private async Task<ulong> ReadAsync(long started)
    {
        try
        {
            var lsn = await CurrentAsync().ConfigureAwait(false);
            lock (_lock)
            {
                if (started > _lastStarted)
                {
                    (_last, _lastStarted) = (lsn, started);
                }

                _reading = null;
            }

            return lsn;
        }
        catch
        {
            lock (_lock)
            {
                _reading = null;
            }

            throw;
        }
    }

    private async Task<ulong> CurrentAsync()
    {
        var connection = await _dataSource.OpenConnectionAsync().ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()", connection);
            await using (command.ConfigureAwait(false))
            {
                var lsn = (NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
                return (ulong)lsn;
            }
        }
    }
}
