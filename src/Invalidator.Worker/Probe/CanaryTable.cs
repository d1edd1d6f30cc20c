using Invalidator.Worker.Options;
using Npgsql;

namespace Invalidator.Worker.Probe;

/// <summary>
/// The canary table (<c>Invalidator:Probe:Table</c>): one row per probing worker, <c>(worker, seq, written_at)</c>. The probe
/// updates its row once per round; that change is what travels to the worker and deletes the round's canaries.
/// </summary>
internal sealed class CanaryTable : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly string _quoted;
    private readonly string _schema;
    private readonly string _name;

    public CanaryTable(NpgsqlDataSource dataSource, string table)
    {
        _dataSource = dataSource;
        Table = table;
        var dot = table.IndexOf('.', StringComparison.Ordinal);
        (_schema, _name) = (table[..dot], table[(dot + 1)..]);
        // Validated as lower-case identifiers, so quoting only guards against reserved words.
        _quoted = $"\"{_schema}\".\"{_name}\"";
    }

    public string Table { get; }

    /// <summary>The table's DDL, as the README gives it: the columns are a contract.</summary>
    public static string Ddl(string table) =>
        $"CREATE TABLE {table} (worker text PRIMARY KEY, seq bigint NOT NULL, written_at timestamptz NOT NULL);";

    /// <summary>
    /// What is wrong with the table, each with its fix (none when it is ready): it exists, has the contract's columns and
    /// key, and in direct mode is in <paramref name="publication"/> (null in Kafka mode, where Debezium's
    /// <c>table.include.list</c> cannot be seen from here).
    /// </summary>
    public async Task<IReadOnlyList<string>> CheckAsync(string? publication, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            var columns = new Dictionary<string, (string Type, bool NotNull)>(StringComparer.Ordinal);
            var command = new NpgsqlCommand(
                """
                SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull
                FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
                """,
                connection)
            {
                Parameters = { new() { Value = _schema }, new() { Value = _name } },
            };
            await using (command.ConfigureAwait(false))
            {
                var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
                await using (reader.ConfigureAwait(false))
                {
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        columns[reader.GetString(0)] = (reader.GetString(1), reader.GetBoolean(2));
                    }
                }
            }

            if (columns.Count == 0)
            {
                problems.Add($"The canary table {Table} (Invalidator:Probe:Table) does not exist. Create it: {Ddl(Table)}" +
                    (publication is null
                        ? " Then add it to the Debezium connector's table.include.list, and its topic to Invalidator:Kafka:Topics (or TopicPattern)."
                        : $" Then add it to the publication: ALTER PUBLICATION {publication} ADD TABLE {Table};"));
                return problems;
            }

            (string Name, string Type)[] contract = [("worker", "text"), ("seq", "bigint"), ("written_at", "timestamp with time zone")];
            foreach (var (name, type) in contract)
            {
                if (!columns.TryGetValue(name, out var found))
                {
                    problems.Add($"The canary table {Table} has no column {name} ({type}); its columns are a contract: {Ddl(Table)} Drop and create it so.");
                }
                else if (found.Type != type)
                {
                    problems.Add($"Column {name} of the canary table {Table} is {found.Type}, not {type}: ALTER TABLE {Table} ALTER COLUMN {name} TYPE {type};");
                }
            }

            var key = await ScalarAsync<string[]>(
                connection,
                """
                SELECT coalesce((SELECT array_agg(a.attname::text) FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2
                """,
                cancellationToken).ConfigureAwait(false);
            if (key is not ["worker"])
            {
                problems.Add($"The canary table {Table} needs worker as its primary key (one row per probing worker): ALTER TABLE {Table} ADD PRIMARY KEY (worker);");
            }

            if (publication is not null && !await ScalarAsync<bool>(
                connection,
                """
                SELECT EXISTS (SELECT 1 FROM pg_publication p WHERE p.pubname = $3 AND p.puballtables)
                    OR EXISTS (SELECT 1 FROM pg_publication_tables t WHERE t.pubname = $3 AND t.schemaname = $1 AND t.tablename = $2)
                """,
                cancellationToken,
                publication).ConfigureAwait(false))
            {
                problems.Add($"The canary table {Table} is not in publication {publication}, so its changes never reach the worker and every canary would be lost: ALTER PUBLICATION {publication} ADD TABLE {Table};");
            }
        }

        return problems;
    }

    /// <summary>The last <c>seq</c> of <paramref name="worker"/>'s row (0 when it has none yet).</summary>
    public async Task<long> LastSeqAsync(string worker, CancellationToken cancellationToken)
    {
        var command = _dataSource.CreateCommand($"SELECT seq FROM {_quoted} WHERE worker = $1");
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new() { Value = worker });
            return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is long seq ? seq : 0;
        }
    }

    /// <summary>Writes <paramref name="worker"/>'s row with <paramref name="seq"/>; returns once the change is committed.</summary>
    public async Task WriteAsync(string worker, long seq, CancellationToken cancellationToken)
    {
        var command = _dataSource.CreateCommand(
            $"INSERT INTO {_quoted} (worker, seq, written_at) VALUES ($1, $2, now()) ON CONFLICT (worker) DO UPDATE SET seq = EXCLUDED.seq, written_at = EXCLUDED.written_at");
        await using (command.ConfigureAwait(false))
        {
            command.Parameters.Add(new() { Value = worker });
            command.Parameters.Add(new() { Value = seq });
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private async Task<T> ScalarAsync<T>(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, string? third = null)
    {
        var command = new NpgsqlCommand(sql, connection) { Parameters = { new() { Value = _schema }, new() { Value = _name } } };
        await using (command.ConfigureAwait(false))
        {
            if (third is not null)
            {
                command.Parameters.Add(new() { Value = third });
            }

            return (T)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
    }
}
