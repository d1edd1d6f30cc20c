using Npgsql;

namespace Invalidator.IntegrationTests.Infrastructure.Postgres;

/// <summary>
/// A real PostgreSQL server with <c>wal_level=logical</c>: a local <c>postgres</c> process from the apt package
/// where there is no Docker, else a <c>postgres:15</c> container. Neither available is a failure, never a skip.
/// Tests share it by owning a database each (<see cref="CreateDatabaseAsync"/>).
/// </summary>
public abstract class PostgresServer : IAsyncDisposable
{
    public static async Task<PostgresServer> StartNewAsync(string walLevel = "logical")
    {
        if (DockerAvailability.UseContainers)
        {
            return await ContainerPostgresServer.CreateAsync(walLevel).ConfigureAwait(false);
        }

        return await ProcessPostgresServer.CreateAsync(walLevel).ConfigureAwait(false);
    }

    /// <summary>A superuser connection string for <paramref name="database"/>.</summary>
    public abstract string ConnectionString(string database = "postgres");

    /// <summary>Creates a database no other test uses and returns its name.</summary>
    public async Task<string> CreateDatabaseAsync(string prefix)
    {
        var name = $"{prefix}_{Guid.NewGuid():N}"[..(prefix.Length + 13)];
        await ExecuteAsync("postgres", $"CREATE DATABASE {name}").ConfigureAwait(false);
        return name;
    }

    /// <summary>Drops a test's database with its replication slots (ending any session still streaming from them).</summary>
    public async Task DropDatabaseAsync(string database)
    {
        await using var connection = new NpgsqlConnection(ConnectionString());
        await connection.OpenAsync().ConfigureAwait(false);
        await using (var terminate = new NpgsqlCommand(
            "SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots WHERE database = $1 AND active_pid IS NOT NULL", connection)
            { Parameters = { new() { Value = database } } })
        {
            await terminate.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        await Eventually.AssertAsync(
            async () =>
            {
                await using var drop = new NpgsqlCommand(
                    "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE database = $1 AND NOT active", connection)
                    { Parameters = { new() { Value = database } } };
                await drop.ExecuteScalarAsync().ConfigureAwait(false);
                await using var left = new NpgsqlCommand("SELECT count(*) FROM pg_replication_slots WHERE database = $1", connection)
                    { Parameters = { new() { Value = database } } };
                return (long)(await left.ExecuteScalarAsync().ConfigureAwait(false))! == 0;
            },
            TimeSpan.FromSeconds(30),
            $"the replication slots of {database} are released and dropped").ConfigureAwait(false);
        await using var dropDatabase = new NpgsqlCommand($"DROP DATABASE {database} WITH (FORCE)", connection);
        await dropDatabase.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync().ConfigureAwait(false);
    }

    public async Task<T> ScalarAsync<T>(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        return (T)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
    }

    public abstract ValueTask DisposeAsync();
}
