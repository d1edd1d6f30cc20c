using System.Text.RegularExpressions;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;
using Npgsql;

namespace Invalidator.Worker.Sources.Postgres;

internal enum CheckSeverity
{
    /// <summary>The source cannot work: the worker does not start, <c>rules check --database</c> exits non-zero.</summary>
    Error,

    /// <summary>The source works, but some changes will not invalidate what they should.</summary>
    Warning,

    /// <summary>Worth knowing (for example: the slot will be created).</summary>
    Info,
}

/// <summary>One result of <see cref="PostgresSourceChecks"/>: what is wrong and the SQL or setting that fixes it.</summary>
internal sealed record CheckFinding(CheckSeverity Severity, string Message)
{
    public override string ToString() => $"{Severity.ToString().ToLowerInvariant()}: {Message}";
}

/// <summary>What the database says about one table of the rules file.</summary>
/// <param name="Table">The name as the rules file writes it (<c>schema.table</c>).</param>
/// <param name="PrimaryKey">Primary-key columns in key order; empty when the table has none.</param>
internal sealed record RuleTableInfo(string Table, IReadOnlyList<string> PrimaryKey);

/// <summary>Everything <see cref="PostgresSourceChecks.RunAsync"/> found.</summary>
internal sealed class PostgresCheckReport
{
    public List<CheckFinding> Findings { get; } = [];

    /// <summary>Tables of the rules file that exist, by their rules-file name.</summary>
    public Dictionary<string, RuleTableInfo> Tables { get; } = new(StringComparer.Ordinal);

    public bool HasErrors => Findings.Exists(f => f.Severity == CheckSeverity.Error);

    /// <summary>The slot exists (with the right plugin and database).</summary>
    public bool SlotExists { get; set; }

    /// <summary>Another connection is streaming from the slot right now (its PID), when that is the case.</summary>
    public int? SlotActivePid { get; set; }

    public void Error(string message) => Findings.Add(new CheckFinding(CheckSeverity.Error, message));

    public void Warning(string message) => Findings.Add(new CheckFinding(CheckSeverity.Warning, message));

    public void Info(string message) => Findings.Add(new CheckFinding(CheckSeverity.Info, message));
}

/// <summary>
/// Whether a database is ready for the direct source with a given rules file: logical WAL, replication
/// privilege, the publication and its tables, replica identity where the rules need old values, the slot.
/// The worker runs these at start; <c>rules check --database</c> runs them on demand. Each finding names the
/// table or setting and says what to run.
/// </summary>
internal static partial class PostgresSourceChecks
{
    private const int MinimumServerVersion = 140000; // pgoutput's logical-message option

    public static async Task<PostgresCheckReport> RunAsync(
        string connectionString, string publication, string slot, RuleSet rules, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(rules);
        var report = new PostgresCheckReport();
        var connection = new NpgsqlConnection();
        await using (connection.ConfigureAwait(false))
        {
            try
            {
                connection.ConnectionString = connectionString; // an invalid one throws here, reported like a failed connect
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is NpgsqlException or ArgumentException or TimeoutException)
            {
                return CannotConnect(report, connectionString, ex);
            }

            var database = await CheckServerAsync(connection, report, cancellationToken).ConfigureAwait(false);
            var publishesAll = await CheckPublicationAsync(connection, publication, rules, report, cancellationToken).ConfigureAwait(false);
            foreach (var rule in rules.Tables.Values.OrderBy(r => r.Table, StringComparer.Ordinal))
            {
                await CheckTableAsync(connection, rule, publication, publishesAll, report, cancellationToken).ConfigureAwait(false);
            }

            await CheckSlotAsync(connection, slot, database, report, cancellationToken).ConfigureAwait(false);
        }

        return report;
    }

    private static PostgresCheckReport CannotConnect(PostgresCheckReport report, string connectionString, Exception ex)
    {
        report.Error($"Cannot connect to PostgreSQL (Invalidator:Postgres:ConnectionString): " +
            (ex is ArgumentException ? PostgresCredentials.DescribeInvalid(connectionString, ex, "Invalidator:Postgres:Password or :PasswordFile") : PostgresCredentials.DescribeConnectFailure(ex)));
        return report;
    }

    /// <summary>wal_level, server version, the replication privilege; returns the current database.</summary>
    private static async Task<string> CheckServerAsync(NpgsqlConnection connection, PostgresCheckReport report, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(
            """
            SELECT current_setting('wal_level'), current_setting('server_version_num')::int, current_database(), current_user,
                   (SELECT rolsuper OR rolreplication FROM pg_roles WHERE rolname = current_user)
            """,
            connection);
        await using var disposeCommand = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var disposeReader = reader.ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        var walLevel = reader.GetString(0);
        var version = reader.GetInt32(1);
        var database = reader.GetString(2);
        var user = reader.GetString(3);
        var mayReplicate = !reader.IsDBNull(4) && reader.GetBoolean(4);

        if (walLevel != "logical")
        {
            report.Error($"wal_level is '{walLevel}'; logical replication needs 'logical'. Run ALTER SYSTEM SET wal_level = logical; and restart PostgreSQL.");
        }

        if (version < MinimumServerVersion)
        {
            report.Error($"PostgreSQL {version / 10000} is too old for the direct source; it needs PostgreSQL 14 or newer (or use Invalidator:Source = Kafka with Debezium).");
        }

        if (!mayReplicate)
        {
            report.Error($"The user {user} may not stream replication. Run ALTER ROLE {QuoteIdentifier(user)} REPLICATION; or connect as a user that has it.");
        }

        return database;
    }

    /// <summary>The publication exists and publishes the operations that invalidate; returns whether it covers all tables.</summary>
    private static async Task<bool> CheckPublicationAsync(
        NpgsqlConnection connection, string publication, RuleSet rules, PostgresCheckReport report, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(
            "SELECT puballtables, pubinsert, pubupdate, pubdelete, pubtruncate FROM pg_publication WHERE pubname = $1", connection)
        {
            Parameters = { new() { Value = publication } },
        };
        await using var disposeCommand = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var disposeReader = reader.ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var tables = string.Join(", ", rules.Tables.Values.Where(r => !r.BuiltIn).Select(r => r.Table).Order(StringComparer.Ordinal).Select(QuoteTableName));
            report.Error($"Publication {publication} does not exist (Invalidator:Postgres:Publication). " +
                $"Create it for the tables of the rules file: CREATE PUBLICATION {QuoteIdentifier(publication)} FOR TABLE {tables};");
            return false;
        }

        var missing = new List<string>();
        string[] operations = ["insert", "update", "delete", "truncate"];
        for (var i = 0; i < operations.Length; i++)
        {
            if (!reader.GetBoolean(i + 1))
            {
                missing.Add(operations[i]);
            }
        }

        if (missing.Count > 0)
        {
            report.Warning($"Publication {publication} does not publish {string.Join(", ", missing)}, so those changes invalidate nothing. " +
                $"Run ALTER PUBLICATION {QuoteIdentifier(publication)} SET (publish = 'insert, update, delete, truncate');");
        }

        return reader.GetBoolean(0);
    }

    /// <summary>The table exists, is published, and its replica identity sends the old values its rules use.</summary>
    private static async Task CheckTableAsync(
        NpgsqlConnection connection, TableRule rule, string publication, bool publishesAll, PostgresCheckReport report, CancellationToken cancellationToken)
    {
        var dot = rule.Table.IndexOf('.', StringComparison.Ordinal);
        var (schema, name) = dot < 0 ? ("public", rule.Table) : (rule.Table[..dot], rule.Table[(dot + 1)..]);
        var command = new NpgsqlCommand(
            """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname),
                   c.relreplident::text,
                   coalesce((SELECT array_agg(a.attname::text ORDER BY array_position(i.indkey::int2[], a.attnum))
                             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                             WHERE i.indrelid = c.oid AND i.indisprimary), '{}'),
                   coalesce((SELECT array_agg(a.attname::text)
                             FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
                             WHERE i.indrelid = c.oid AND i.indisreplident), '{}'),
                   EXISTS (SELECT 1 FROM pg_publication_tables p
                           WHERE p.pubname = $3 AND p.schemaname = n.nspname AND p.tablename = c.relname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')
            """,
            connection)
        {
            Parameters = { new() { Value = schema }, new() { Value = name }, new() { Value = publication } },
        };
        await using var disposeCommand = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var disposeReader = reader.ConfigureAwait(false);
        if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            // The canary table's built-in rule: the probe checks its table at its own start (with the DDL) when it is on.
            if (!rule.BuiltIn)
            {
                report.Warning($"{rule.Table} is in the rules file (line {rule.Line}) but there is no such table in this database.");
            }

            return;
        }

        var quoted = reader.GetString(0);
        var identity = reader.GetString(1);
        var primaryKey = reader.GetFieldValue<string[]>(2);
        var identityIndex = reader.GetFieldValue<string[]>(3);
        var published = reader.GetBoolean(4);
        report.Tables[rule.Table] = new RuleTableInfo(rule.Table, primaryKey);

        if (!published && !publishesAll)
        {
            report.Warning($"{rule.Table} is not in publication {publication}, so its changes never reach the worker. " +
                $"Run ALTER PUBLICATION {QuoteIdentifier(publication)} ADD TABLE {quoted};");
        }

        // Columns whose old values updates and deletes carry, by replica identity: d(efault) = primary key,
        // i(ndex) = that index, f(ull) = all, n(othing) = none.
        if (identity == "f")
        {
            if (rule.ReplicaIdentity == ReplicaIdentity.Default && !rule.BuiltIn)
            {
                report.Warning($"{rule.Table}: its rule (line {rule.Line}) declares 'replicaIdentity: default', but the table has REPLICA IDENTITY FULL, " +
                    "so Debezium's old rows are whole and the rule throws away their non-key columns (a delete does not invalidate keys built from them). " +
                    "Remove 'replicaIdentity: default' from the rule.");
            }

            return;
        }

        if (rule.BuiltIn)
        {
            // The canary's name is rendered from the new row only: the table needs no old values.
            return;
        }

        var identityColumns = identity switch { "d" => primaryKey, "i" => identityIndex, _ => [] };
        var used = rule.Keys.Concat(rule.Tags).SelectMany(t => t.Columns).Concat(rule.Changed ?? []).Distinct(StringComparer.Ordinal);
        var withoutOldValues = used.Where(c => !identityColumns.Contains(c, StringComparer.Ordinal)).ToList();
        if (withoutOldValues.Count == 0)
        {
            return;
        }

        var identityName = identity switch { "d" => "DEFAULT", "i" => "USING INDEX", _ => "NOTHING" };
        report.Warning($"{rule.Table}: the rules use {string.Join(", ", withoutOldValues)}, but with REPLICA IDENTITY {identityName} " +
            "PostgreSQL does not send their old values, so an update or delete cannot invalidate keys built from the old row " +
            "(a changed email leaves the old email's key cached)" +
            (rule.Changed is null ? "" : " and 'changed' cannot tell what changed (every update invalidates)") +
            $". Run ALTER TABLE {quoted} REPLICA IDENTITY FULL;" +
            (rule.ReplicaIdentity == ReplicaIdentity.Default
                ? " (The rule declares 'replicaIdentity: default', so the placeholders Debezium writes for those columns are not rendered into keys.)"
                : $" If the table keeps REPLICA IDENTITY {identityName} and Debezium reads it, also add 'replicaIdentity: default' to its rule (line {rule.Line}): " +
                  "Debezium fills the other NOT NULL columns of a deleted row with placeholders (0, '', false, the epoch) that would otherwise " +
                  "be rendered into keys of unrelated rows. The direct source needs no field: it reads the identity from the stream."));
    }

    private static async Task CheckSlotAsync(NpgsqlConnection connection, string slot, string database, PostgresCheckReport report, CancellationToken cancellationToken)
    {
        var command = new NpgsqlCommand(
            """
            SELECT s.slot_type, s.plugin, s.database, s.active, s.active_pid, a.application_name, host(a.client_addr),
                   current_setting('max_replication_slots')::int, (SELECT count(*)::int FROM pg_replication_slots)
            FROM (SELECT 1) AS one
            LEFT JOIN pg_replication_slots s ON s.slot_name = $1
            LEFT JOIN pg_stat_activity a ON a.pid = s.active_pid
            """,
            connection)
        {
            Parameters = { new() { Value = slot } },
        };
        await using var disposeCommand = command.ConfigureAwait(false);
        var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        await using var disposeReader = reader.ConfigureAwait(false);
        await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
        if (reader.IsDBNull(0))
        {
            var (max, used) = (reader.GetInt32(7), reader.GetInt32(8));
            if (used >= max)
            {
                report.Error($"Slot {slot} does not exist and all {max} replication slots are taken (max_replication_slots). " +
                    "Drop an unused slot (SELECT pg_drop_replication_slot('<name>');) or raise max_replication_slots and restart PostgreSQL.");
            }
            else
            {
                report.Info($"Slot {slot} does not exist yet; the worker creates it when it starts and streams changes made from then on.");
            }

            return;
        }

        var (type, plugin, slotDatabase) = (reader.GetString(0), reader.IsDBNull(1) ? "" : reader.GetString(1), reader.IsDBNull(2) ? "" : reader.GetString(2));
        if (type != "logical" || plugin != "pgoutput")
        {
            report.Error($"Slot {slot} is a {type} slot{(plugin.Length > 0 ? $" of plugin {plugin}" : "")}, not a pgoutput logical slot. " +
                $"Choose another Invalidator:Postgres:Slot, or drop it: SELECT pg_drop_replication_slot('{slot}');");
            return;
        }

        if (slotDatabase != database)
        {
            report.Error($"Slot {slot} belongs to database {slotDatabase}, not {database}: a slot streams one database. Choose another Invalidator:Postgres:Slot.");
            return;
        }

        report.SlotExists = true;
        if (reader.GetBoolean(3))
        {
            var pid = reader.IsDBNull(4) ? 0 : reader.GetInt32(4);
            report.SlotActivePid = pid;
            var application = reader.IsDBNull(5) || reader.GetString(5).Length == 0 ? "" : $", application '{reader.GetString(5)}'";
            var client = reader.IsDBNull(6) ? "" : $", from {reader.GetString(6)}";
            report.Error($"Slot {slot} is in use by another consumer (PID {pid}{application}{client}); only one may stream from a slot. " +
                "Stop the other worker, or give this one its own Invalidator:Postgres:Slot (and its own copy of every change).");
        }
    }

    /// <summary>A rules-file table name (<c>schema.table</c>) as SQL must write it.</summary>
    private static string QuoteTableName(string table)
    {
        var dot = table.IndexOf('.', StringComparison.Ordinal);
        return dot < 0 ? QuoteIdentifier(table) : QuoteIdentifier(table[..dot]) + "." + QuoteIdentifier(table[(dot + 1)..]);
    }

    /// <summary>An identifier as SQL must write it: bare when it is a plain lower-case name, else double-quoted.</summary>
    public static string QuoteIdentifier(string name) =>
        PlainIdentifier().IsMatch(name) ? name : "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    [GeneratedRegex("^[a-z_][a-z0-9_$]*$")]
    private static partial Regex PlainIdentifier();
}
