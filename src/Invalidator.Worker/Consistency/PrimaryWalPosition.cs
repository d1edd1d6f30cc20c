using Npgsql;
using NpgsqlTypes;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// The primary's current WAL position (<c>pg_current_wal_lsn()</c>, connection <c>Invalidator:Consistency:Primary</c>):
/// in Kafka mode the position to wait for when a batch is sealed. Debezium's <c>source.lsn</c> is a change's own
/// position, before its commit record; the primary's current position, read after the batch's records were consumed,
/// is at or past the commit of every change in it.
/// </summary>
internal sealed class PrimaryWalPosition(string connectionString) : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource = new NpgsqlDataSourceBuilder(connectionString) { Name = "invalidator-primary" }.Build();

    public async ValueTask<ulong> CurrentAsync(CancellationToken cancellationToken)
    {
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var command = new NpgsqlCommand("SELECT pg_current_wal_lsn()", connection);
            await using (command.ConfigureAwait(false))
            {
                var lsn = (NpgsqlLogSequenceNumber)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
                return (ulong)lsn;
            }
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
