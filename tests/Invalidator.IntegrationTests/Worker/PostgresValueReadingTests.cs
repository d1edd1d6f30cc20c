using System.Globalization;
using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Sources.Postgres;
using Npgsql;
using Npgsql.Replication;
using Npgsql.Replication.PgOutput;
using Npgsql.Replication.PgOutput.Messages;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// The decoder reads a text value's bytes from Npgsql's column stream and decodes them itself, keeping each column's
/// last short value: it must give exactly what Npgsql's own <c>Get&lt;string&gt;</c> and the plain conversion give. Two
/// slots receive the same generated changes from a real Postgres; one is decoded by <see cref="PgOutputDecoder"/>, the
/// other read value by value with <c>Get&lt;string&gt;</c> and <see cref="PostgresTextValues.Canonicalize"/>, and every
/// image is compared: NULLs, unchanged TOAST values, values longer than the read buffer (so crossing its refills at
/// every offset), multibyte UTF-8, every type the conversion knows, and identity-only old rows.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresValueReadingTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    private const string Schema = """
        CREATE TABLE items (
            id int PRIMARY KEY, t text, vc varchar(40), i8 bigint, b bool, n numeric, n2 numeric(10,2), f4 real,
            f8 double precision, m money, by bytea, d date, tm time, tm3 time(3), ttz timetz, ts timestamp, ts3 timestamp(3),
            tstz timestamptz, tstz0 timestamptz(0), iv interval, bt bit(1), u uuid, j jsonb, big text);
        -- Out of line and uncompressed: an update that leaves it alone sends it as unchanged TOAST.
        ALTER TABLE items ALTER COLUMN big SET STORAGE EXTERNAL;
        ALTER TABLE items REPLICA IDENTITY FULL;
        CREATE TABLE plain (id int PRIMARY KEY, name text, note text);
        CREATE PUBLICATION values_pub FOR TABLE items, plain;
        """;

    private static readonly string[] ItemColumns =
        ["t", "vc", "i8", "b", "n", "n2", "f4", "f8", "m", "by", "d", "tm", "tm3", "ttz", "ts", "ts3", "tstz", "tstz0", "iv", "bt", "u", "j", "big"];

    private static readonly Dictionary<string, RuleTableInfo> Tables = new(StringComparer.Ordinal)
    {
        ["public.items"] = new("public.items", ["id"]),
        ["public.plain"] = new("public.plain", ["id"]),
    };

    [Fact]
    public async Task Values_read_from_their_bytes_equal_npgsqls_strings_converted_for_generated_changes()
    {
        var database = await fixture.Postgres.CreateDatabaseAsync("pgvalues");
        try
        {
            var connectionString = fixture.Postgres.ConnectionString(database);
            await fixture.Postgres.ExecuteAsync(database, Schema);
            // Each on its own: a slot cannot be created in a transaction that wrote.
            await fixture.Postgres.ExecuteAsync(database, "SELECT pg_create_logical_replication_slot('values_decoded', 'pgoutput')");
            await fixture.Postgres.ExecuteAsync(database, "SELECT pg_create_logical_replication_slot('values_plain', 'pgoutput')");
            await fixture.Postgres.ExecuteAsync(database, "SELECT pg_create_logical_replication_slot('values_strings', 'pgoutput')");
            var changes = await WriteChangesAsync(connectionString, new Random(21));

            using var timeout = new CancellationTokenSource(Deadline);
            var decoded = await DecodeAsync(connectionString, "values_decoded", textIsUtf8: true, changes, timeout.Token);
            var expected = await ReadPlainAsync(connectionString, "values_plain", changes, timeout.Token);
            // The decoder's path for a connection whose Encoding is not UTF-8: Npgsql's strings.
            var asStrings = await DecodeAsync(connectionString, "values_strings", textIsUtf8: false, changes, timeout.Token);

            Assert.Equal(expected.Count, decoded.Count);
            Assert.Equal(expected.Count, asStrings.Count);
            var seen = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var i = 0; i < expected.Count; i++)
            {
                var (table, operation, before, after) = expected[i];
                var actual = decoded[i];
                Assert.Equal(table, actual.Table);
                Assert.Equal(operation, actual.Operation);
                AssertImage(before, actual.Before, $"change {i} ({table} {operation}) before", seen);
                AssertImage(after, actual.After, $"change {i} ({table} {operation}) after", seen);
                Assert.Equal(table, asStrings[i].Table);
                Assert.Equal(operation, asStrings[i].Operation);
                AssertImage(before, asStrings[i].Before, $"change {i} ({table} {operation}) before, read as strings", []);
                AssertImage(after, asStrings[i].After, $"change {i} ({table} {operation}) after, read as strings", []);
                if (actual is { Before: { } old, After: { } @new })
                {
                    // A short value repeated from the before image is the same string: the cache served it.
                    seen["repeat"] = seen.GetValueOrDefault("repeat") + old.Columns.Count(c =>
                        c.Value.IsPresent && @new.TryGet(c.Key, out var v) && ReferenceEquals(c.Value.Text, v.Text));
                }
            }

            // The generated data reached every case the fast path has to get right.
            foreach (var @case in new[] { "null", "unchanged toast", "untrusted", "empty", "multibyte", "over 64 KiB", "repeat" })
            {
                Assert.True(seen.GetValueOrDefault(@case) > 10, $"{@case}: {seen.GetValueOrDefault(@case)} values");
            }
        }
        finally
        {
            await fixture.Postgres.DropDatabaseAsync(database);
        }
    }

    private static void AssertImage(
        IReadOnlyList<KeyValuePair<string, ColumnValue>>? expected, RowImage? actual, string what, Dictionary<string, int> seen)
    {
        if (expected is null)
        {
            Assert.Null(actual);
            return;
        }

        Assert.NotNull(actual);
        Assert.Equal(expected.Select(c => c.Key), actual.ColumnNames);
        foreach (var (column, value) in expected)
        {
            Assert.True(actual.TryGet(column, out var got));
            if (value != got)
            {
                Assert.Fail($"{what}, column {column}: expected {Describe(value)}, got {Describe(got)}");
            }

            var @case = value.Kind switch
            {
                ColumnValueKind.Null => "null",
                ColumnValueKind.Unavailable => "unchanged toast",
                ColumnValueKind.Untrusted => "untrusted",
                _ when value.Text!.Length == 0 => "empty",
                _ when Encoding.UTF8.GetByteCount(value.Text!) > 64 * 1024 => "over 64 KiB",
                _ when value.Text!.Any(c => c > 127) => "multibyte",
                _ => "text",
            };
            seen[@case] = seen.GetValueOrDefault(@case) + 1;
        }
    }

    private static string Describe(ColumnValue value) =>
        value.Text is null ? value.Kind.ToString() : $"{value.Kind} '{(value.Text.Length > 80 ? value.Text[..80] + $"…({value.Text.Length})" : value.Text)}'";

    /// <summary>Inserts, updates (some leaving the TOASTed column alone) and deletes rows; returns how many row changes were made.</summary>
    private static async Task<int> WriteChangesAsync(string connectionString, Random random)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        var changes = 0;
        const int rows = 120;
        var placeholders = string.Join(", ", ItemColumns.Select((c, i) => $"${i + 2}::{Type(c)}"));
        for (var id = 1; id <= rows; id++)
        {
            await using var insert = new NpgsqlCommand($"INSERT INTO items (id, {string.Join(", ", ItemColumns)}) VALUES ($1, {placeholders})", connection);
            insert.Parameters.Add(new() { Value = id });
            foreach (var column in ItemColumns)
            {
                insert.Parameters.Add(new() { Value = (object?)Value(column, random) ?? DBNull.Value });
            }

            changes += await insert.ExecuteNonQueryAsync();
        }

        for (var round = 0; round < 3; round++)
        {
            await using var transaction = await connection.BeginTransactionAsync();
            for (var id = 1; id <= rows; id++)
            {
                // Some columns each time, the TOASTed one only sometimes: the others arrive unchanged in the new row.
                var columns = ItemColumns.Where(c => c != "big" && random.Next(3) == 0).Append("t").Distinct().ToList();
                if (random.Next(4) == 0)
                {
                    columns.Add("big");
                }

                var set = string.Join(", ", columns.Select((c, i) => $"{c} = ${i + 2}::{Type(c)}"));
                await using var update = new NpgsqlCommand($"UPDATE items SET {set} WHERE id = $1", connection, transaction);
                update.Parameters.Add(new() { Value = id });
                foreach (var column in columns)
                {
                    update.Parameters.Add(new() { Value = (object?)Value(column, random) ?? DBNull.Value });
                }

                changes += await update.ExecuteNonQueryAsync();
            }

            await transaction.CommitAsync();
        }

        await using var delete = new NpgsqlCommand("DELETE FROM items WHERE id % 3 = 0", connection);
        changes += await delete.ExecuteNonQueryAsync();

        // The default identity: no old row for an update of other columns, the old key alone for a key change or a delete.
        await using var plain = new NpgsqlCommand(
            """
            INSERT INTO plain SELECT g, 'name ' || g || ' é', repeat('n', g) FROM generate_series(1, 40) g;
            UPDATE plain SET note = 'ü' || id WHERE id <= 20;
            UPDATE plain SET id = id + 100 WHERE id > 30;
            DELETE FROM plain WHERE id % 2 = 0;
            """, connection);
        changes += await plain.ExecuteNonQueryAsync();
        return changes;
    }

    private static string Type(string column) => column switch
    {
        "t" or "big" => "text",
        "vc" => "varchar(40)",
        "i8" => "bigint",
        "b" => "bool",
        "n" => "numeric",
        "n2" => "numeric(10,2)",
        "f4" => "real",
        "f8" => "double precision",
        "m" => "money",
        "by" => "bytea",
        "d" => "date",
        "tm" => "time",
        "tm3" => "time(3)",
        "ttz" => "timetz",
        "ts" => "timestamp",
        "ts3" => "timestamp(3)",
        "tstz" => "timestamptz",
        "tstz0" => "timestamptz(0)",
        "iv" => "interval",
        "bt" => "bit(1)",
        "u" => "uuid",
        "j" => "jsonb",
        _ => throw new ArgumentOutOfRangeException(nameof(column), column, null),
    };

    /// <summary>A value's text for the column's type, null now and then; a few values per column so repeats are common.</summary>
    private static string? Value(string column, Random random)
    {
        if (random.Next(8) == 0)
        {
            return null;
        }

        var n = random.Next(6);
        var i = CultureInfo.InvariantCulture;
        return column switch
        {
            "t" => n switch
            {
                0 => "",
                1 => "café",
                2 => "漢字のテキスト " + random.Next(3),
                3 => "emoji 😀 " + random.Next(3),
                4 => Text(random, random.Next(20, 6000)),
                _ => "plain " + random.Next(3),
            },
            "vc" => n % 2 == 0 ? "väl " + random.Next(4) : "x" + new string('é', random.Next(0, 39)),
            "i8" => (random.NextInt64() >> (n * 10)).ToString(i),
            "b" => n % 2 == 0 ? "t" : "f",
            "n" => n switch { 0 => "12.500", 1 => "-0.000100", 2 => "1e3", 3 => "NaN", _ => random.Next(-5000, 5000) + "." + random.Next(0, 100).ToString("00", i) },
            "n2" => (random.Next(-100000, 100000) / 100.0).ToString("0.00", i),
            "f4" => n switch { 0 => "NaN", 1 => "-Infinity", 2 => "1.5e-7", _ => (random.NextDouble() * Math.Pow(10, n)).ToString("R", i) },
            "f8" => n switch { 0 => "Infinity", 1 => "0.1", 2 => "-0", _ => (random.NextDouble() * Math.Pow(10, n * 3)).ToString("R", i) },
            "m" => (random.Next(-100000, 100000) / 100.0).ToString("0.00", i),
            "by" => "\\x" + Convert.ToHexString(RandomBytes(random, n == 0 ? 0 : random.Next(1, n == 5 ? 3000 : 40))),
            "d" => n == 0 ? "infinity" : new DateOnly(1990 + random.Next(40), 1 + random.Next(12), 1 + random.Next(28)).ToString("yyyy-MM-dd", i),
            "tm" or "tm3" => $"{random.Next(24):00}:{random.Next(60):00}:{random.Next(60):00}.{random.Next(1_000_000):000000}",
            "ttz" => $"{random.Next(24):00}:{random.Next(60):00}:{random.Next(60):00}{(n % 2 == 0 ? "+02" : "-05:30")}",
            "ts" or "ts3" => n == 0 ? "infinity" : Timestamp(random, n),
            "tstz" or "tstz0" => n == 0 ? "-infinity" : Timestamp(random, n) + (n % 2 == 0 ? "+02" : "-05:30"),
            "iv" => $"{random.Next(400)} days {random.Next(24):00}:{random.Next(60):00}:0{n}",
            "bt" => n % 2 == 0 ? "1" : "0",
            "u" => n < 3 ? "6f1c0d4e-8a2b-4c3d-9e5f-0a1b2c3d4e5f" : Guid.NewGuid().ToString(),
            "j" => $$"""{"k": "é漢 {{n}}", "n": {{n}}}""",
            // Longer than the 64 KiB read buffer sometimes: its bytes arrive over several refills.
            "big" => Text(random, n switch { 0 => 3000, 1 or 2 => random.Next(3000, 20000), _ => random.Next(40_000, 200_000) }),
            _ => throw new ArgumentOutOfRangeException(nameof(column), column, null),
        };
    }

    private static string Timestamp(Random random, int n) =>
        $"{1990 + random.Next(40)}-{1 + random.Next(12):00}-{1 + random.Next(28):00} {random.Next(24):00}:{random.Next(60):00}:{random.Next(60):00}"
        + (n % 3 == 0 ? "" : "." + random.Next(1_000_000).ToString("000000", CultureInfo.InvariantCulture));

    /// <summary>Text of about <paramref name="length"/> characters mixing one- to four-byte UTF-8.</summary>
    private static string Text(Random random, int length)
    {
        string[] pieces = ["abc ", "é", "ß", "漢字", "😀", "0123456789", "ü "];
        var text = new StringBuilder(length + 8);
        while (text.Length < length)
        {
            text.Append(pieces[random.Next(pieces.Length)]);
        }

        return text.ToString();
    }

    private static byte[] RandomBytes(Random random, int count)
    {
        var bytes = new byte[count];
        random.NextBytes(bytes);
        return bytes;
    }

    private static async IAsyncEnumerable<PgOutputReplicationMessage> StreamAsync(
        LogicalReplicationConnection connection, string slot, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await connection.Open(cancellationToken);
        var options = new PgOutputReplicationOptions("values_pub", PgOutputProtocolVersion.V1, binary: false, messages: true);
        await foreach (var message in connection.StartReplication(new PgOutputReplicationSlot(slot), options, cancellationToken))
        {
            yield return message;
        }
    }

    /// <summary>The worker's path: its replication connection string (buffer, session settings) and its decoder.</summary>
    private static async Task<List<ChangeEvent>> DecodeAsync(
        string connectionString, string slot, bool textIsUtf8, int count, CancellationToken cancellationToken)
    {
        var decoder = new PgOutputDecoder(Tables, textIsUtf8: textIsUtf8);
        var changes = new List<DecodedChange>();
        await using var connection = new LogicalReplicationConnection(PostgresChangeSource.ReplicationConnectionString(connectionString));
        await foreach (var message in StreamAsync(connection, slot, cancellationToken))
        {
            await decoder.DecodeAsync(message, null, changes, cancellationToken);
            if (changes.Count == count)
            {
                break;
            }
        }

        Assert.All(changes, c => Assert.Null(c.Oversized));
        return changes.Select(c => c.Change).ToList();
    }

    /// <summary>
    /// The plain path: each value read by Npgsql as a string and converted, the identity rule applied by column flags.
    /// </summary>
    private static async Task<List<(string Table, ChangeOperation Operation, List<KeyValuePair<string, ColumnValue>>? Before, List<KeyValuePair<string, ColumnValue>>? After)>> ReadPlainAsync(
        string connectionString, string slot, int count, CancellationToken cancellationToken)
    {
        var changes = new List<(string, ChangeOperation, List<KeyValuePair<string, ColumnValue>>?, List<KeyValuePair<string, ColumnValue>>?)>();
        await using var connection = new LogicalReplicationConnection(PostgresChangeSource.ReplicationConnectionString(connectionString));
        await foreach (var message in StreamAsync(connection, slot, cancellationToken))
        {
            switch (message)
            {
                case InsertMessage m:
                    changes.Add((Name(m.Relation), ChangeOperation.Create, null, await RowAsync(m.NewRow, m.Relation, identityOnly: false)));
                    break;
                case FullUpdateMessage m:
                    changes.Add((Name(m.Relation), ChangeOperation.Update, await RowAsync(m.OldRow, m.Relation, identityOnly: false), await RowAsync(m.NewRow, m.Relation, identityOnly: false)));
                    break;
                case IndexUpdateMessage m:
                    changes.Add((Name(m.Relation), ChangeOperation.Update, await RowAsync(m.Key, m.Relation, identityOnly: true), await RowAsync(m.NewRow, m.Relation, identityOnly: false)));
                    break;
                case UpdateMessage m:
                    changes.Add((Name(m.Relation), ChangeOperation.Update, null, await RowAsync(m.NewRow, m.Relation, identityOnly: false)));
                    break;
                case FullDeleteMessage m:
                    changes.Add((Name(m.Relation), ChangeOperation.Delete, await RowAsync(m.OldRow, m.Relation, identityOnly: false), null));
                    break;
                case KeyDeleteMessage m:
                    changes.Add((Name(m.Relation), ChangeOperation.Delete, await RowAsync(m.Key, m.Relation, identityOnly: true), null));
                    break;
            }

            if (changes.Count == count)
            {
                break;
            }
        }

        return changes;

        static string Name(RelationMessage relation) => relation.Namespace + "." + relation.RelationName;

        async Task<List<KeyValuePair<string, ColumnValue>>> RowAsync(ReplicationTuple tuple, RelationMessage relation, bool identityOnly)
        {
            var row = new List<KeyValuePair<string, ColumnValue>>();
            var index = 0;
            await foreach (var value in tuple.WithCancellation(cancellationToken))
            {
                var column = relation.Columns[index++];
                var identity = column.Flags.HasFlag(RelationMessage.Column.ColumnFlags.PartOfKey);
                row.Add(new(column.ColumnName, identityOnly && !identity ? ColumnValue.Untrusted : value.Kind switch
                {
                    TupleDataKind.Null => ColumnValue.Null,
                    TupleDataKind.UnchangedToastedValue => ColumnValue.Unavailable,
                    _ => ColumnValue.Of(PostgresTextValues.Canonicalize(column.DataTypeId, column.TypeModifier, await value.Get<string>(cancellationToken))),
                }));
            }

            return row;
        }
    }
}
