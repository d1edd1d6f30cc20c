using System.Text;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// The dead-letter table of direct mode (<c>Invalidator:DeadLetter:Table</c>) and its database: created and checked at
/// the source's start, purged by <see cref="DeadLetterPurge"/>. Written by <see cref="PostgresDeadLetterWriter"/>, read by
/// <see cref="PostgresRedriveReader"/> (per region, marking <c>redriven_at</c>) and <see cref="PostgresDeadLetterReader"/>
/// (<c>dlq replay</c>).
/// </summary>
internal sealed class PostgresDeadLetterTable : IDisposable
{
    private readonly ILogger<PostgresDeadLetterTable> _logger;
    private readonly string _schema;
    private readonly string _name;
    private int _disposed;

    public PostgresDeadLetterTable(IOptions<InvalidatorOptions> options, ILogger<PostgresDeadLetterTable> logger)
    {
        var settings = options.Value;
        DataSource = CreateDataSource(settings);
        var parts = settings.DeadLetter.Table.Split('.');
        (_schema, _name) = parts.Length == 2 ? (parts[0], parts[1]) : ("public", parts[0]);
        Table = $"{_schema}.{_name}";
        // Validated as lower-case identifiers, so quoting only guards against reserved words.
        Quoted = $"\"{_schema}\".\"{_name}\"";
        _logger = logger;
        Name = $"table {Table}";
    }

    /// <summary>
    /// The dead-letter table's database: <c>Invalidator:DeadLetter:ConnectionString</c>, or else the source's, with the
    /// source's <c>Password</c> or <c>PasswordFile</c> (the file read at each new physical connection, as the source does).
    /// </summary>
    private static NpgsqlDataSource CreateDataSource(InvalidatorOptions settings)
    {
        var ownDatabase = !string.IsNullOrWhiteSpace(settings.DeadLetter.ConnectionString);
        var builder = new NpgsqlDataSourceBuilder(ownDatabase ? settings.DeadLetter.ConnectionString : settings.Postgres.ConnectionString);
        builder.ConnectionStringBuilder.ApplicationName ??= "invalidator-dead-letters";
        if (!ownDatabase && settings.Postgres.PasswordFile is { Length: > 0 } file)
        {
            builder.UsePasswordProvider(
                _ => SecretFile.Read(file, PostgresCredentials.PasswordFileKey),
                (_, _) => ValueTask.FromResult(SecretFile.Read(file, PostgresCredentials.PasswordFileKey)));
        }
        else if (!ownDatabase && settings.Postgres.Password is { Length: > 0 } password)
        {
            builder.ConnectionStringBuilder.Password = password;
        }

        return builder.Build();
    }

    /// <summary>The table, <c>schema.table</c>.</summary>
    public string Table { get; }

    /// <summary>What the store is, for messages: <c>table public.invalidator_dead_letters</c>.</summary>
    public string Name { get; }

    /// <summary>The table's name quoted for SQL.</summary>
    public string Quoted { get; }

    public NpgsqlDataSource DataSource { get; }

    /// <summary>
    /// Creates the table if absent and checks that the worker may use it. A pre-created table needs no CREATE
    /// privilege: creation is attempted only when the table does not exist.
    /// </summary>
    public async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        var connection = await DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var disposeConnection = connection.ConfigureAwait(false);
        if (!await IsTrueAsync(connection, "SELECT to_regclass($1) IS NOT NULL", cancellationToken).ConfigureAwait(false))
        {
            var pending = $"\"{_name}_pending\"";
            var create = new NpgsqlCommand(
                $"""
                CREATE TABLE IF NOT EXISTS {Quoted} (
                    id bigserial PRIMARY KEY,
                    kind text NOT NULL CHECK (kind IN ('region', 'poison')),
                    region text,
                    reason text NOT NULL,
                    attempts int NOT NULL DEFAULT 0,
                    payload jsonb NOT NULL,
                    source_position text,
                    created_at timestamptz NOT NULL DEFAULT now(),
                    redriven_at timestamptz);
                CREATE INDEX IF NOT EXISTS {pending} ON {Quoted} (id) WHERE kind = 'region' AND redriven_at IS NULL;
                """,
                connection);
            await using (create.ConfigureAwait(false))
            {
                await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        if (!await IsTrueAsync(connection, "SELECT has_table_privilege($1, 'SELECT, INSERT, UPDATE')", cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException(
                $"the worker's user lacks SELECT, INSERT or UPDATE on {Table}: GRANT SELECT, INSERT, UPDATE ON {Table} TO <user>; GRANT USAGE ON SEQUENCE {Table}_id_seq TO <user>;");
        }

        if (!await IsTrueAsync(connection, "SELECT has_table_privilege($1, 'DELETE')", cancellationToken).ConfigureAwait(false))
        {
            throw new InvalidOperationException(
                $"the worker's user lacks DELETE on {Table}, which Invalidator:DeadLetter:Retention needs to purge redriven and old rows: GRANT DELETE ON {Table} TO <user>;");
        }

        Log.DeadLetterTableReady(_logger, Table);
    }

    /// <summary>Whether <paramref name="sql"/>, given the quoted table name as $1, answers true.</summary>
    private async Task<bool> IsTrueAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(sql, connection);
        await using var disposeCommand = command.ConfigureAwait(false);
        command.Parameters.Add(new() { Value = Quoted });
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is true;
    }

    /// <summary>
    /// Deletes at most <paramref name="limit"/> rows that were redriven or are older than <paramref name="retention"/>
    /// (<c>Invalidator:DeadLetter:Retention</c>), oldest first; returns how many. A table not created yet has none.
    /// </summary>
    public async Task<int> PurgeAsync(TimeSpan retention, int limit, CancellationToken cancellationToken)
    {
        var command = DataSource.CreateCommand(
            $"DELETE FROM {Quoted} WHERE id IN (SELECT id FROM {Quoted} WHERE redriven_at IS NOT NULL OR created_at < now() - $1 ORDER BY id LIMIT {limit})");
        await using var disposeCommand = command.ConfigureAwait(false);
        command.Parameters.Add(new() { Value = retention, NpgsqlDbType = NpgsqlDbType.Interval });
        try
        {
            return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return 0;
        }
    }

    // Shared by the three roles, each registered under two service types: the container disposes it more than once.
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            DataSource.Dispose();
        }
    }
}
