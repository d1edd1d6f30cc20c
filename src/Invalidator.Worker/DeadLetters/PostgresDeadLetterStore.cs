using System.Text;
using System.Text.Json;
using Invalidator.Core.ChangeEvents;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// The dead-letter store of direct mode: a table in Postgres (<c>Invalidator:DeadLetter:Table</c>). A write
/// returns only once its INSERT committed, so the source may then confirm the batch's LSN. Region letters are
/// redriven by <see cref="PostgresRegionRedriver"/>, which marks them <c>redriven_at</c>; poison changes wait
/// for <c>dlq replay</c>.
/// </summary>
internal sealed class PostgresDeadLetterStore : IRegionDeadLetterSink, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly InvalidatorMetrics _metrics;
    private readonly WorkerStatus _status;
    private readonly ILogger<PostgresDeadLetterStore> _logger;
    private readonly string _schema;
    private readonly string _name;
    private readonly string _quoted;
    private int _disposed;

    public PostgresDeadLetterStore(IOptions<InvalidatorOptions> options, InvalidatorMetrics metrics, WorkerStatus status, ILogger<PostgresDeadLetterStore> logger)
    {
        var settings = options.Value;
        var connectionString = string.IsNullOrWhiteSpace(settings.DeadLetter.ConnectionString)
            ? settings.Postgres.ConnectionString
            : settings.DeadLetter.ConnectionString;
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        builder.ApplicationName ??= "invalidator-dead-letters";
        _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        var parts = settings.DeadLetter.Table.Split('.');
        (_schema, _name) = parts.Length == 2 ? (parts[0], parts[1]) : ("public", parts[0]);
        Table = $"{_schema}.{_name}";
        // Validated as lower-case identifiers, so quoting only guards against reserved words.
        _quoted = $"\"{_schema}\".\"{_name}\"";
        _metrics = metrics;
        _status = status;
        _logger = logger;
    }

    /// <summary>The table, <c>schema.table</c>.</summary>
    public string Table { get; }

    /// <summary>
    /// Creates the table if absent and checks that the worker may use it. A pre-created table needs no CREATE
    /// privilege: creation is attempted only when the table does not exist.
    /// </summary>
    public async Task EnsureTableAsync(CancellationToken cancellationToken)
    {
        await using var connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using (var exists = new NpgsqlCommand("SELECT to_regclass($1) IS NOT NULL", connection) { Parameters = { new() { Value = _quoted } } })
        {
            if (await exists.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
            {
                var pending = $"\"{_name}_pending\"";
                await using var create = new NpgsqlCommand(
                    $"""
                    CREATE TABLE IF NOT EXISTS {_quoted} (
                        id bigserial PRIMARY KEY,
                        kind text NOT NULL CHECK (kind IN ('region', 'poison')),
                        region text,
                        reason text NOT NULL,
                        attempts int NOT NULL DEFAULT 0,
                        payload jsonb NOT NULL,
                        source_position text,
                        created_at timestamptz NOT NULL DEFAULT now(),
                        redriven_at timestamptz);
                    CREATE INDEX IF NOT EXISTS {pending} ON {_quoted} (id) WHERE kind = 'region' AND redriven_at IS NULL;
                    """,
                    connection);
                await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }
        }

        await using (var privileges = new NpgsqlCommand("SELECT has_table_privilege($1, 'SELECT, INSERT, UPDATE')", connection) { Parameters = { new() { Value = _quoted } } })
        {
            if (await privileges.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
            {
                throw new InvalidOperationException(
                    $"the worker's user lacks SELECT, INSERT or UPDATE on {Table}: GRANT SELECT, INSERT, UPDATE ON {Table} TO <user>; GRANT USAGE ON SEQUENCE {Table}_id_seq TO <user>;");
            }
        }

        Log.DeadLetterTableReady(_logger, Table);
    }

    /// <summary>Stores one region's unapplied invalidations; returns once committed, throws if not.</summary>
    public async Task WriteAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        var position = string.Join(",", letter.Sources.Select(s => $"{Lsn(s.From)}-{Lsn(s.To + 1)}"));
        await InsertAsync(RegionDeadLetter.Kind, letter.Region, letter.Reason, letter.Attempts, Encoding.UTF8.GetString(letter.ToJson()), position, cancellationToken).ConfigureAwait(false);
        _metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", RegionDeadLetter.Kind), new KeyValuePair<string, object?>("region", letter.Region));
        _status.DeadLettered(RegionDeadLetter.Kind, letter.Region, $"{letter.Keys.Count} keys, {letter.Tags.Count} tags: {letter.Reason}");
    }

    /// <summary>Stores a change whose rules could not be evaluated, with the reason; returns once committed.</summary>
    public async Task WritePoisonAsync(ChangeEvent change, string reason, NpgsqlLogSequenceNumber lsn, CancellationToken cancellationToken)
    {
        await InsertAsync(DeadLetterPublisher.PoisonKind, null, reason, 0, PoisonJson(change, lsn), lsn.ToString(), cancellationToken).ConfigureAwait(false);
        _metrics.DeadLetters.Add(1, new KeyValuePair<string, object?>("reason", DeadLetterPublisher.PoisonKind), new KeyValuePair<string, object?>("region", ""));
        _status.DeadLettered(DeadLetterPublisher.PoisonKind, "", $"{change.Table}@{lsn}: {reason}");
        Log.ChangeDeadLettered(_logger, change.Table, lsn.ToString(), Table, reason);
    }

    /// <summary>Region letters not yet redriven, oldest first. A payload that is not a letter comes back with a null letter.</summary>
    public async Task<IReadOnlyList<(long Id, string Region, RegionDeadLetter? Letter)>> ReadPendingAsync(int limit, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(
            $"SELECT id, coalesce(region, ''), payload::text FROM {_quoted} WHERE kind = 'region' AND redriven_at IS NULL ORDER BY id LIMIT {limit}");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var letters = new List<(long, string, RegionDeadLetter?)>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            RegionDeadLetter? letter;
            try
            {
                letter = RegionDeadLetter.FromJson(Encoding.UTF8.GetBytes(reader.GetString(2)));
            }
            catch (JsonException)
            {
                letter = null;
            }

            letters.Add((reader.GetInt64(0), reader.GetString(1), letter));
        }

        return letters;
    }

    public async Task MarkRedrivenAsync(long id, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"UPDATE {_quoted} SET redriven_at = now() WHERE id = $1");
        command.Parameters.Add(new() { Value = id });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every row, oldest first, for <c>dlq replay</c>: kind, reason and payload.</summary>
    public async Task<IReadOnlyList<(long Id, string Kind, string Reason, string Payload)>> ReadAllAsync(CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"SELECT id, kind, reason, payload::text FROM {_quoted} ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        var rows = new List<(long, string, string, string)>();
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            rows.Add((reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3)));
        }

        return rows;
    }

    /// <summary>The change a poison payload holds, read back for <c>dlq replay</c>; throws <see cref="JsonException"/> on anything else.</summary>
    public static ChangeEvent ChangeFromJson(string json)
    {
        using var document = JsonDocument.Parse(json);
        var root = document.RootElement;
        var table = root.GetProperty("table").GetString() ?? throw new JsonException("no table");
        if (!ChangeOperationCodes.TryParse(root.GetProperty("op").GetString(), out var operation))
        {
            throw new JsonException("unknown op");
        }

        DateTimeOffset? commitTime = root.TryGetProperty("commitTime", out var time) && time.ValueKind == JsonValueKind.String ? time.GetDateTimeOffset() : null;
        return new ChangeEvent(table, operation, Image(root, "before"), Image(root, "after"), Image(root, "key"), commitTime);

        static RowImage? Image(JsonElement root, string name)
        {
            if (!root.TryGetProperty(name, out var image) || image.ValueKind != JsonValueKind.Object)
            {
                return null;
            }

            return new RowImage(image.EnumerateObject().Select(c => KeyValuePair.Create(
                c.Name, c.Value.ValueKind == JsonValueKind.Null ? ColumnValue.Null : ColumnValue.Of(c.Value.GetString() ?? ""))));
        }
    }

    private async Task InsertAsync(string kind, string? region, string reason, int attempts, string payload, string position, CancellationToken cancellationToken)
    {
        try
        {
            await using var command = _dataSource.CreateCommand(
                $"INSERT INTO {_quoted} (kind, region, reason, attempts, payload, source_position) VALUES ($1, $2, $3, $4, $5, $6)");
            command.Parameters.Add(new() { Value = kind });
            command.Parameters.Add(new() { Value = (object?)region ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            command.Parameters.Add(new() { Value = reason });
            command.Parameters.Add(new() { Value = attempts });
            command.Parameters.Add(new() { Value = payload, NpgsqlDbType = NpgsqlDbType.Jsonb });
            command.Parameters.Add(new() { Value = position });
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException)
        {
            Log.DeadLetterTableWriteFailed(_logger, Table, ex);
            throw;
        }
    }

    /// <summary>
    /// The change as column-to-text images (the canonical text keys are built from). An unavailable (unchanged
    /// TOAST) value is left out: like it, a missing column never renders into a key.
    /// </summary>
    private static string PoisonJson(ChangeEvent change, NpgsqlLogSequenceNumber lsn)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("table", change.Table);
            json.WriteString("op", change.Operation.ToCode());
            json.WriteString("lsn", lsn.ToString());
            if (change.CommitTime is { } commitTime)
            {
                json.WriteString("commitTime", commitTime);
            }

            WriteImage(json, "before", change.Before);
            WriteImage(json, "after", change.After);
            WriteImage(json, "key", change.Key);
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());

        static void WriteImage(Utf8JsonWriter json, string name, RowImage? image)
        {
            if (image is null)
            {
                json.WriteNull(name);
                return;
            }

            json.WriteStartObject(name);
            foreach (var (column, value) in image.Columns)
            {
                switch (value.Kind)
                {
                    case ColumnValueKind.Present: json.WriteString(column, value.Text); break;
                    case ColumnValueKind.Null: json.WriteNull(column); break;
                    default: break;
                }
            }

            json.WriteEndObject();
        }
    }

    private static string Lsn(long position) => new NpgsqlLogSequenceNumber((ulong)position).ToString();

    // Registered under two service types, so the container disposes it twice.
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _dataSource.Dispose();
        }
    }
}
