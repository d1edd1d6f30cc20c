using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;
using NpgsqlTypes;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// The dead-letter store of direct mode: a table in Postgres (<c>Invalidator:DeadLetter:Table</c>). A write
/// returns only once its INSERT committed, so the source may then confirm the batch's LSN. Region letters are
/// redriven per region and marked <c>redriven_at</c>; poison changes wait for <c>dlq replay</c>.
/// </summary>
internal sealed class PostgresDeadLetterStore : IDeadLetterStore, IDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger<PostgresDeadLetterStore> _logger;
    private readonly HashSet<string> _configuredRegions;
    private readonly Dictionary<string, long> _cursors = new(StringComparer.OrdinalIgnoreCase);
    private readonly Lock _cursorLock = new();
    private int _unknownRegionsChecked;
    private readonly string _schema;
    private readonly string _name;
    private readonly string _quoted;
    private readonly bool _redact;
    private int _disposed;

    public PostgresDeadLetterStore(IOptions<InvalidatorOptions> options, ILogger<PostgresDeadLetterStore> logger)
    {
        var settings = options.Value;
        _dataSource = CreateDataSource(settings);
        var parts = settings.DeadLetter.Table.Split('.');
        (_schema, _name) = parts.Length == 2 ? (parts[0], parts[1]) : ("public", parts[0]);
        Table = $"{_schema}.{_name}";
        // Validated as lower-case identifiers, so quoting only guards against reserved words.
        _quoted = $"\"{_schema}\".\"{_name}\"";
        _logger = logger;
        _configuredRegions = new HashSet<string>(settings.Regions.Keys, StringComparer.OrdinalIgnoreCase);
        Name = $"table {Table}";
        _redact = settings.DeadLetter.Redact;
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

    public string Name { get; }

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

        await using (var delete = new NpgsqlCommand("SELECT has_table_privilege($1, 'DELETE')", connection) { Parameters = { new() { Value = _quoted } } })
        {
            if (await delete.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not true)
            {
                throw new InvalidOperationException(
                    $"the worker's user lacks DELETE on {Table}, which Invalidator:DeadLetter:Retention needs to purge redriven and old rows: GRANT DELETE ON {Table} TO <user>;");
            }
        }

        Log.DeadLetterTableReady(_logger, Table);
    }

    /// <summary>Stores one region's unapplied invalidations; returns once committed, throws if not.</summary>
    public async Task WriteRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var position = string.Join(",", letter.Sources.Select(s => $"{Lsn(s.From)}-{Lsn(s.To + 1)}"));
        await InsertAsync(DeadLetterKinds.Region, letter.Region, letter.Reason, letter.Attempts, Encoding.UTF8.GetString(letter.ToJson()), position, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Stores a region's poison letter (names its server refused for good, or a quarantined letter): a row of kind poison
    /// with its region, never redriven; <c>dlq replay</c> re-applies it. Returns once committed.
    /// </summary>
    public async Task WriteRegionPoisonAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        var position = string.Join(",", letter.Sources.Select(s => $"{Lsn(s.From)}-{Lsn(s.To + 1)}"));
        await InsertAsync(DeadLetterKinds.Poison, letter.Region, letter.Reason, letter.Attempts, Encoding.UTF8.GetString(letter.ToJson(DeadLetterKinds.Poison)), position, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Stores a change whose rules could not be evaluated (or a raw record), with the reason; returns once committed.</summary>
    public async Task WritePoisonAsync(PoisonRecord poison, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(poison);
        poison = _redact ? poison.Redacted() : poison;
        var payload = poison.Content switch
        {
            ChangeContent change => ChangeEventJson.Write(change.Change, poison.PositionText),
            RawRecordContent raw => RawJson(raw),
            _ => throw new ArgumentException($"Unknown poison content {poison.Content.GetType().Name}", nameof(poison)),
        };
        await InsertAsync(DeadLetterKinds.Poison, null, poison.Reason, 0, payload, poison.PositionText, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The region's letters not yet redriven, in id order, after the ones this process read before (a cursor per
    /// region, so a letter that cannot be redriven is passed over instead of blocking the ones behind it; after a
    /// restart every unmarked letter is read again). A table not created yet has none.
    /// </summary>
    public async Task<IReadOnlyList<PendingRegionLetter>> ReadPendingAsync(string region, int limit, CancellationToken cancellationToken)
    {
        long cursor;
        lock (_cursorLock)
        {
            cursor = _cursors.GetValueOrDefault(region);
        }

        var letters = new List<PendingRegionLetter>();
        try
        {
            await ReportUnknownRegionsAsync(cancellationToken).ConfigureAwait(false);
            await using var command = _dataSource.CreateCommand(
                $"SELECT id, payload::text FROM {_quoted} WHERE kind = 'region' AND redriven_at IS NULL AND lower(region) = lower($1) AND id > $2 ORDER BY id LIMIT {limit}");
            command.Parameters.Add(new() { Value = region });
            command.Parameters.Add(new() { Value = cursor });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                RegionDeadLetter? letter;
                try
                {
                    letter = RegionDeadLetter.FromJson(Encoding.UTF8.GetBytes(reader.GetString(1)));
                }
                catch (JsonException)
                {
                    letter = null;
                }

                var id = reader.GetInt64(0);
                letters.Add(new PendingRegionLetter(region, letter, $"{Table} id {id}", 0, id));
            }
        }
        catch (PostgresException ex) when (ex.SqlState == PostgresErrorCodes.UndefinedTable)
        {
            return []; // before the source's start-up created it: nothing to redrive yet
        }

        if (letters.Count > 0)
        {
            lock (_cursorLock)
            {
                _cursors[region] = letters[^1].Position;
            }
        }

        return letters;
    }

    public async Task MarkRedrivenAsync(PendingRegionLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        await using var command = _dataSource.CreateCommand($"UPDATE {_quoted} SET redriven_at = now() WHERE id = $1");
        command.Parameters.Add(new() { Value = letter.Position });
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Every row, oldest first, for <c>dlq replay</c>.</summary>
    public async IAsyncEnumerable<StoredDeadLetter> ReadAllAsync([EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand($"SELECT id, kind, reason, payload::text FROM {_quoted} ORDER BY id");
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var (id, kind, reason, payload) = (reader.GetInt64(0), reader.GetString(1), reader.GetString(2), reader.GetString(3));
            var content = kind == DeadLetterKinds.Poison ? PoisonOrNull(payload) : null;
            yield return new StoredDeadLetter(kind, reason, $"{Table} id {id}", content, content is RawRecordContent raw ? raw.Topic : PostgresChangeSource.SourceName);
        }
    }

    /// <summary>
    /// Deletes at most <paramref name="limit"/> rows that were redriven or are older than <paramref name="retention"/>
    /// (<c>Invalidator:DeadLetter:Retention</c>), oldest first; returns how many. A table not created yet has none.
    /// </summary>
    public async Task<int> PurgeAsync(TimeSpan retention, int limit, CancellationToken cancellationToken)
    {
        await using var command = _dataSource.CreateCommand(
            $"DELETE FROM {_quoted} WHERE id IN (SELECT id FROM {_quoted} WHERE redriven_at IS NOT NULL OR created_at < now() - $1 ORDER BY id LIMIT {limit})");
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

    /// <summary>Letters naming a region that is not configured are never redriven: say so once per start.</summary>
    private async Task ReportUnknownRegionsAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _unknownRegionsChecked) != 0)
        {
            return;
        }

        await using var command = _dataSource.CreateCommand(
            $"SELECT coalesce(region, ''), count(*) FROM {_quoted} WHERE kind = 'region' AND redriven_at IS NULL AND NOT (lower(coalesce(region, '')) = ANY($1)) GROUP BY 1");
        command.Parameters.Add(new() { Value = _configuredRegions.Select(r => r.ToLowerInvariant()).ToArray() });
        var unknown = new List<(string Region, long Count)>();
        await using (var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                unknown.Add((reader.GetString(0), reader.GetInt64(1)));
            }
        }

        if (Interlocked.Exchange(ref _unknownRegionsChecked, 1) == 0)
        {
            foreach (var (region, count) in unknown)
            {
                Log.RedriveUnknownRegion(_logger, $"{Table} ({count} letters)", region);
            }
        }
    }

    private static PoisonContent? PoisonOrNull(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            if (document.RootElement.TryGetProperty("letter", out _))
            {
                return new RegionNamesContent(RegionDeadLetter.FromJson(Encoding.UTF8.GetBytes(payload), DeadLetterKinds.Poison));
            }

            if (document.RootElement.TryGetProperty("topic", out var topic) && document.RootElement.TryGetProperty("value", out var value))
            {
                return new RawRecordContent(
                    topic.GetString() ?? "",
                    document.RootElement.TryGetProperty("key", out var key) && key.ValueKind == JsonValueKind.String ? key.GetBytesFromBase64() : null,
                    value.ValueKind == JsonValueKind.String ? value.GetBytesFromBase64() : null,
                    [],
                    null);
            }

            return new ChangeContent(ChangeEventJson.Read(payload));
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            return null;
        }
    }

    /// <summary>A raw record (a source that has one): its topic, and key and value in base64.</summary>
    private static string RawJson(RawRecordContent raw)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("topic", raw.Topic);
            if (raw.Key is { } key)
            {
                json.WriteBase64String("key", key);
            }
            else
            {
                json.WriteNull("key");
            }

            if (raw.Value is { } value)
            {
                json.WriteBase64String("value", value);
            }
            else
            {
                json.WriteNull("value");
            }

            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private async Task InsertAsync(string kind, string? region, string reason, int attempts, string payload, string position, CancellationToken cancellationToken)
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
