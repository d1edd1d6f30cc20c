using System.Diagnostics;
using Npgsql;
using NpgsqlTypes;
using StackExchange.Redis;

namespace Invalidator.RaceHarness;

/// <summary>
/// The real servers of one run: a database holding <see cref="RaceTable.Schema"/>, the running worker that streams it,
/// and the Redis region the readers populate. The caller starts all of them (tests with their fixtures, the benchmark
/// with its own processes); the harness only writes, reads and compares.
/// </summary>
public sealed class RaceWorld
{
    /// <summary>An Npgsql connection string of the run's database.</summary>
    public required string ConnectionString { get; init; }

    /// <summary>
    /// Where readers load rows from: a read replica for the replica race (it shows a change only once it replayed it);
    /// null: <see cref="ConnectionString"/>. Writes and the final comparison always use the primary.
    /// </summary>
    public string? ReadConnectionString { get; init; }

    /// <summary>The region the readers populate (one the worker invalidates).</summary>
    public required IDatabase Redis { get; init; }

    /// <summary>That region's <c>KeyPrefix</c>.</summary>
    public required string KeyPrefix { get; init; }

    /// <summary>The running worker host's services: its meter factory scopes the worker counters a mode may read.</summary>
    public required IServiceProvider Worker { get; init; }

    /// <summary>Returns once the worker has applied every change committed before the call, or throws after the timeout.</summary>
    public required Func<TimeSpan, CancellationToken, Task> WaitForWorkerAsync { get; init; }

    /// <summary>
    /// For a worker that reads Kafka: publishes the change events of rows a writer just committed (id, new version),
    /// standing in for Debezium. Null for the direct source, which reads the database's own replication stream.
    /// </summary>
    public Func<IReadOnlyList<(int Id, long Version)>, Task>? PublishChangesAsync { get; init; }

    /// <summary>
    /// Catching up for the direct source: note the WAL insert position, commit one more change (the marker row, in the
    /// publication but without a rule, so the slot has something of ours to confirm past it), and wait until the slot's
    /// confirmed position reaches it. The worker confirms a position only after applying everything before it.
    /// </summary>
    public static Func<TimeSpan, CancellationToken, Task> DirectSourceCatchUp(string connectionString, string slot) => async (timeout, cancellationToken) =>
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        // The insert position, not pg_current_wal_lsn(): with synchronous_commit=off the write position may lag behind
        // commits that readers already see.
        var target = await ScalarAsync<NpgsqlLogSequenceNumber>(connection, "SELECT pg_current_wal_insert_lsn()", cancellationToken).ConfigureAwait(false);
        await using (var marker = new NpgsqlCommand("UPDATE race_marker SET n = n + 1 WHERE id = 1", connection))
        {
            await marker.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var command = new NpgsqlCommand("SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", connection)
            {
                Parameters = { new() { Value = slot } },
            };
            if (await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is NpgsqlLogSequenceNumber confirmed && confirmed >= target)
            {
                return;
            }

            if (clock.Elapsed > timeout)
            {
                throw new TimeoutException($"The worker did not confirm {target} on slot {slot} within {timeout.TotalSeconds:0} s: it has not caught up with the writes.");
            }

            await Task.Delay(20, cancellationToken).ConfigureAwait(false);
        }
    };

    private static async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }
}
