using System.Collections.Concurrent;
using System.Globalization;
using System.Numerics;
using System.Text.Json;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Processing;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// One rules file yields the same keys from both sources: rows written by SQL and read by the worker from the
/// real replication stream, against the Debezium records of the same rows, built per Debezium's documented
/// encoding for its default Postgres settings (schema-ful JsonConverter; precise Decimal as base64 with the
/// scale in the schema; VariableScaleDecimal; MicroTimestamp and Timestamp as epoch numbers; ZonedTimestamp as
/// an ISO string in UTC with the column's fraction digits; Uuid as text).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class CrossSourceKeyEqualityTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.typed:
            keys:
              - "typed:{id}:{big}:{name}:{uid}:{active}"
              - "money:{price}:{amount}"
              - "time:{at}:{at_ms}:{at_tz}:{at_tz0}"
        """;

    private const string Schema = """
        CREATE TABLE typed (
            id int PRIMARY KEY, big bigint, name text, uid uuid, price numeric(10,2), amount numeric, active boolean,
            at timestamp, at_ms timestamp(3), at_tz timestamptz, at_tz0 timestamptz(0));
        ALTER TABLE typed REPLICA IDENTITY FULL;
        CREATE PUBLICATION pub_same FOR TABLE typed;
        """;

    private static readonly Row Ann = new(
        Id: 1, Big: 9_007_199_254_740_993, Name: "Ann Ünïcode {x}", Uid: Guid.Parse("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        Price: 12.50m, Amount: 12.500m, Active: true,
        At: new DateTime(2024, 1, 2, 3, 4, 5, 500, DateTimeKind.Utc),
        AtMs: new DateTime(2024, 1, 2, 3, 4, 5, 123, DateTimeKind.Utc),
        AtTz: new DateTimeOffset(2024, 1, 2, 3, 4, 5, 500, TimeSpan.FromHours(2)),
        AtTz0: new DateTimeOffset(2024, 1, 2, 3, 4, 5, TimeSpan.Zero));

    private static readonly Row Bob = new(
        Id: 2, Big: -42, Name: "", Uid: Guid.Parse("00000000-0000-0000-0000-000000000001"),
        Price: -0.05m, Amount: 100m, Active: false,
        At: new DateTime(1969, 12, 31, 23, 59, 59, DateTimeKind.Utc).AddTicks(9_999_990),
        AtMs: new DateTime(2000, 2, 29, 0, 0, 0, DateTimeKind.Utc),
        AtTz: new DateTimeOffset(2024, 6, 30, 23, 59, 59, TimeSpan.FromHours(-7)).AddTicks(9_999_990),
        AtTz0: new DateTimeOffset(1999, 12, 31, 23, 59, 59, TimeSpan.FromHours(5.5)));

    [Fact]
    public async Task Int_bigint_text_uuid_numeric_boolean_and_timestamp_columns_render_the_same_keys_from_debezium_and_from_replication()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "same", Schema);
        var keys = new CapturedKeys();
        await harness.StartAsync(keys);
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        // Inserts (after image only), then an update with REPLICA IDENTITY FULL (before and after image).
        await harness.ExecuteAsync($"INSERT INTO typed VALUES {Ann.Sql}, {Bob.Sql}");
        var bobChanged = Bob with { Name = "Robert", Amount = 0.000100m, AtTz = Bob.AtTz.AddDays(1) };
        await harness.ExecuteAsync(
            $"UPDATE typed SET name = 'Robert', amount = 0.000100, at_tz = '{bobChanged.AtTz:yyyy-MM-dd HH:mm:ss.ffffffzzz}' WHERE id = 2");

        var planner = new InvalidationPlanner(RulesLoader.LoadFile(harness.RulesPath));
        var fromDebezium = new[]
            {
                Debezium("c", null, Ann),
                Debezium("c", null, Bob),
                Debezium("u", Bob, bobChanged),
            }
            .SelectMany(record => planner.Plan(new DebeziumDecoder().Decode("dbserver1.public.typed", record.Key, record.Value).Change!).Keys)
            .ToHashSet(StringComparer.Ordinal);

        await Eventually.AssertAsync(() => keys.Count >= fromDebezium.Count, Deadline, "the worker applies the inserts and the update");
        Assert.Equal(fromDebezium.Order(StringComparer.Ordinal), keys.Sorted());

        // Spelled out, so that the comparison cannot pass on two equally wrong renderings.
        Assert.Contains("typed:1:9007199254740993:Ann Ünïcode {x}:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11:true", fromDebezium);
        Assert.Contains("money:12.50:12.5", fromDebezium);
        Assert.Contains("time:1704164645500000:1704164645123:2024-01-02T01:04:05.500000Z:2024-01-02T03:04:05Z", fromDebezium);
        Assert.Contains("money:-0.05:100", fromDebezium);
        Assert.Contains("money:-0.05:0.0001", fromDebezium);
        Assert.Contains("time:-1:951782400000:2024-07-01T06:59:59.999999Z:1999-12-31T18:29:59Z", fromDebezium);
        Assert.Contains("time:-1:951782400000:2024-07-02T06:59:59.999999Z:1999-12-31T18:29:59Z", fromDebezium);
    }

    private sealed record Row(
        int Id, long Big, string Name, Guid Uid, decimal Price, decimal Amount, bool Active,
        DateTime At, DateTime AtMs, DateTimeOffset AtTz, DateTimeOffset AtTz0)
    {
        public string Sql => string.Create(CultureInfo.InvariantCulture,
            $"({Id}, {Big}, '{Name}', '{Uid}', {Price}, {Amount}, {Active}, '{At:yyyy-MM-dd HH:mm:ss.ffffff}', " +
            $"'{AtMs:yyyy-MM-dd HH:mm:ss.fff}', '{AtTz:yyyy-MM-dd HH:mm:ss.ffffffzzz}', '{AtTz0:yyyy-MM-dd HH:mm:sszzz}')");

        /// <summary>The row as Debezium's JsonConverter writes it (payload side).</summary>
        public Dictionary<string, object?> Payload() => new()
        {
            ["id"] = Id,
            ["big"] = Big,
            ["name"] = Name,
            ["uid"] = Uid.ToString(),
            ["price"] = DecimalBase64(Price, scale: 2), // org.apache.kafka.connect.data.Decimal, scale from the schema
            ["amount"] = VariableScaleDecimal(Amount), // io.debezium.data.VariableScaleDecimal
            ["active"] = Active,
            ["at"] = (At - DateTime.UnixEpoch).Ticks / 10, // io.debezium.time.MicroTimestamp
            ["at_ms"] = (AtMs - DateTime.UnixEpoch).Ticks / TimeSpan.TicksPerMillisecond, // io.debezium.time.Timestamp
            ["at_tz"] = AtTz.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.ffffff'Z'", CultureInfo.InvariantCulture), // ZonedTimestamp, timestamptz(6)
            ["at_tz0"] = AtTz0.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture), // ZonedTimestamp, timestamptz(0)
        };
    }

    /// <summary>A create or update record with key and value schemas, as the connector in deploy/debezium produces.</summary>
    private static (byte[] Key, byte[] Value) Debezium(string op, Row? before, Row after)
    {
        var rowSchema = new object[]
        {
            Field("int32", "id", optional: false),
            Field("int64", "big"),
            Field("string", "name"),
            Field("string", "uid", name: "io.debezium.data.Uuid"),
            Field("bytes", "price", name: "org.apache.kafka.connect.data.Decimal",
                parameters: new Dictionary<string, string> { ["scale"] = "2", ["connect.decimal.precision"] = "10" }),
            new Dictionary<string, object?>
            {
                ["type"] = "struct", ["optional"] = true, ["name"] = "io.debezium.data.VariableScaleDecimal", ["version"] = 1,
                ["fields"] = new[] { Field("int32", "scale", optional: false), Field("bytes", "value", optional: false) },
                ["field"] = "amount",
            },
            Field("boolean", "active"),
            Field("int64", "at", name: "io.debezium.time.MicroTimestamp"),
            Field("int64", "at_ms", name: "io.debezium.time.Timestamp"),
            Field("string", "at_tz", name: "io.debezium.time.ZonedTimestamp"),
            Field("string", "at_tz0", name: "io.debezium.time.ZonedTimestamp"),
        };
        var value = new
        {
            schema = new Dictionary<string, object?>
            {
                ["type"] = "struct",
                ["name"] = "dbserver1.public.typed.Envelope",
                ["optional"] = false,
                ["fields"] = new object[]
                {
                    new Dictionary<string, object?> { ["type"] = "struct", ["fields"] = rowSchema, ["optional"] = true, ["name"] = "dbserver1.public.typed.Value", ["field"] = "before" },
                    new Dictionary<string, object?> { ["type"] = "struct", ["fields"] = rowSchema, ["optional"] = true, ["name"] = "dbserver1.public.typed.Value", ["field"] = "after" },
                    Field("string", "op", optional: false),
                    Field("int64", "ts_ms"),
                },
            },
            payload = new Dictionary<string, object?>
            {
                ["before"] = before?.Payload(),
                ["after"] = after.Payload(),
                ["source"] = new { version = "3.0.0.Final", connector = "postgresql", name = "dbserver1", ts_ms = 1_704_164_645_500L, db = "app", schema = "public", table = "typed" },
                ["op"] = op,
                ["ts_ms"] = 1_704_164_645_600L,
            },
        };
        var key = new
        {
            schema = new { type = "struct", fields = new[] { Field("int32", "id", optional: false) }, optional = false, name = "dbserver1.public.typed.Key" },
            payload = new { id = after.Id },
        };
        return (JsonSerializer.SerializeToUtf8Bytes(key), JsonSerializer.SerializeToUtf8Bytes(value));
    }

    private static Dictionary<string, object?> Field(string type, string field, bool optional = true, string? name = null, Dictionary<string, string>? parameters = null)
    {
        var schema = new Dictionary<string, object?> { ["type"] = type, ["optional"] = optional };
        if (name is not null)
        {
            schema["name"] = name;
            schema["version"] = 1;
        }

        if (parameters is not null)
        {
            schema["parameters"] = parameters;
        }

        schema["field"] = field;
        return schema;
    }

    /// <summary>Connect's Decimal: the unscaled value, big-endian two's complement, base64.</summary>
    private static string DecimalBase64(decimal value, int scale)
    {
        var unscaled = new BigInteger(decimal.Round(value * (decimal)Math.Pow(10, scale)));
        return Convert.ToBase64String(unscaled.ToByteArray(isUnsigned: false, isBigEndian: true));
    }

    /// <summary>VariableScaleDecimal after Debezium's stripTrailingZeros (never a negative scale).</summary>
    private static object VariableScaleDecimal(decimal value)
    {
        var text = value.ToString(CultureInfo.InvariantCulture);
        if (text.Contains('.', StringComparison.Ordinal))
        {
            text = text.TrimEnd('0').TrimEnd('.');
        }

        var point = text.IndexOf('.', StringComparison.Ordinal);
        var scale = point < 0 ? 0 : text.Length - point - 1;
        return new { scale, value = DecimalBase64(decimal.Parse(text, CultureInfo.InvariantCulture), scale) };
    }

    /// <summary>Every key the worker's applied batches held (names before the regions' prefix).</summary>
    private sealed class CapturedKeys : IBatchListener
    {
        private readonly ConcurrentDictionary<string, bool> _keys = new(StringComparer.Ordinal);

        public int Count => _keys.Count;

        public IEnumerable<string> Sorted() => _keys.Keys.Order(StringComparer.Ordinal).ToList();

        public void OnApplied(SourceBatch batch)
        {
            foreach (var key in batch.Invalidations.Keys)
            {
                _keys[key] = true;
            }
        }
    }
}
