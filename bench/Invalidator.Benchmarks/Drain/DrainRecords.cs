using System.Globalization;
using System.Text;

namespace Invalidator.Benchmarks.Drain;

/// <summary>Which records a drain produces.</summary>
internal enum DrainMix
{
    /// <summary>Every record a customer update whose email changed: exactly 3 keys (id, old email, new email), all distinct.</summary>
    ThreeKeys,

    /// <summary>
    /// 1 to 3 keys a record, some tags, some repeated keys: 60% customer updates with a changed email (3 keys), 15%
    /// with the email unchanged (2 keys), 15% order updates (1 key and a tag of one of 2,000 customers, so tags repeat),
    /// 10% updates of 500 hot customers (2 keys that repeat).
    /// </summary>
    Mixed,
}

/// <summary>One generated Debezium record and what it invalidates under <see cref="DrainRecords.Rules"/>.</summary>
internal sealed record DrainRecord(string Table, byte[] Key, byte[] Value, string[] Keys, string[] Tags);

/// <summary>
/// Realistic Debezium 2.x envelopes (Postgres connector, REPLICA IDENTITY FULL: before and after images, the source
/// block with ts_ms/ts_us/ts_ns, lsn, txId), written by JsonConverter with or without <c>schemas.enable</c>. Customers
/// have 8 columns and orders 6, of which the rules use 2 and 2: the decoder meets columns no rule reads.
/// </summary>
internal static class DrainRecords
{
    public const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
          public.orders:
            keys: ["order:{id}"]
            tags: ["customer-orders:{customer_id}"]
        """;

    /// <summary>Members each tag set holds before a run (keys an application cached under the tag).</summary>
    public static string[] TagMembers(string tag) => [$"page:{tag}:1", $"page:{tag}:2"];

    public static string Topic(string prefix, string table) => $"{prefix}.public.{table}";

    /// <summary>
    /// Record <paramref name="i"/> (0-based) of a drain. <paramref name="commitMicros"/> is its source.ts_us (the
    /// latency benchmark writes the produce time there); null uses a fixed clock.
    /// </summary>
    public static DrainRecord Create(int i, DrainMix mix, bool withSchema, long? commitMicros = null)
    {
        var micros = commitMicros ?? 1_700_000_000_000_000L + i;
        var kind = mix == DrainMix.ThreeKeys ? 0 : i % 20;
        if (kind < 12)
        {
            var id = i + 1;
            return Customer(id, $"Old.{id}@Example.com", $"user{id}@example.com", withSchema, micros);
        }

        if (kind < 15)
        {
            var id = i + 1;
            return Customer(id, $"same{id}@example.com", $"same{id}@example.com", withSchema, micros);
        }

        if (kind < 18)
        {
            return Order(i + 1, i % 2000 + 1, withSchema, micros);
        }

        var hot = 10_000_000 + i % 500;
        return Customer(hot, $"hot{hot}@example.com", $"hot{hot}@example.com", withSchema, micros);
    }

    private static DrainRecord Customer(int id, string oldEmail, string newEmail, bool withSchema, long micros)
    {
        var before = CustomerRow(id, oldEmail, "Anne", micros);
        var after = CustomerRow(id, newEmail, "Anna", micros);
        var keys = string.Equals(oldEmail, newEmail, StringComparison.OrdinalIgnoreCase)
            ? new[] { $"customer:{id}", $"customer:email:{newEmail.ToLowerInvariant()}" }
            : [$"customer:{id}", $"customer:email:{oldEmail.ToLowerInvariant()}", $"customer:email:{newEmail.ToLowerInvariant()}"];
        return new DrainRecord("customers", KeyOf(id, "customers", withSchema), Envelope("customers", before, after, micros, id, withSchema), keys, []);
    }

    private static DrainRecord Order(int id, int customer, bool withSchema, long micros)
    {
        var before = OrderRow(id, customer, "paid", micros);
        var after = OrderRow(id, customer, "shipped", micros);
        return new DrainRecord("orders", KeyOf(id, "orders", withSchema), Envelope("orders", before, after, micros, id, withSchema),
            [$"order:{id}"], [$"customer-orders:{customer}"]);
    }

    private static string CustomerRow(int id, string email, string firstName, long micros) => string.Create(CultureInfo.InvariantCulture,
        $"{{\"id\":{id},\"first_name\":\"{firstName}{id}\",\"last_name\":\"Kretchmar\",\"email\":\"{email}\",\"tenant_id\":{id % 16},\"active\":true,\"created_at\":{micros - 86_400_000_000L},\"notes\":null}}");

    private static string OrderRow(int id, int customer, string status, long micros) => string.Create(CultureInfo.InvariantCulture,
        $"{{\"id\":{id},\"customer_id\":{customer},\"status\":\"{status}\",\"total\":\"{id % 1000}.90\",\"currency\":\"EUR\",\"created_at\":{micros - 3_600_000_000L}}}");

    private static byte[] KeyOf(int id, string table, bool withSchema) => Encoding.UTF8.GetBytes(withSchema
        ? string.Create(CultureInfo.InvariantCulture,
            $"{{\"schema\":{{\"type\":\"struct\",\"fields\":[{{\"type\":\"int32\",\"optional\":false,\"field\":\"id\"}}],\"optional\":false,\"name\":\"dbserver1.public.{table}.Key\"}},\"payload\":{{\"id\":{id}}}}}")
        : string.Create(CultureInfo.InvariantCulture, $"{{\"id\":{id}}}"));

    private static byte[] Envelope(string table, string before, string after, long micros, int id, bool withSchema)
    {
        var millis = micros / 1000;
        var payload = string.Create(CultureInfo.InvariantCulture,
            $"{{\"before\":{before},\"after\":{after},\"source\":{{\"version\":\"2.7.3.Final\",\"connector\":\"postgresql\",\"name\":\"dbserver1\",\"ts_ms\":{millis},\"snapshot\":\"false\",\"db\":\"app\",\"sequence\":\"[\\\"{24023119L + id * 8L}\\\",\\\"{24023128L + id * 8L}\\\"]\",\"ts_us\":{micros},\"ts_ns\":{micros * 1000},\"schema\":\"public\",\"table\":\"{table}\",\"txId\":{555 + id},\"lsn\":{24023128L + id * 8L},\"xmin\":null}},\"transaction\":null,\"op\":\"u\",\"ts_ms\":{millis + 7},\"ts_us\":{micros + 7000},\"ts_ns\":{(micros + 7000) * 1000}}}");
        return Encoding.UTF8.GetBytes(withSchema ? $"{{\"schema\":{(table == "customers" ? CustomerSchema : OrderSchema)},\"payload\":{payload}}}" : payload);
    }

    private static readonly string CustomerSchema = ValueSchema("customers",
        ("int32", "id", false, null), ("string", "first_name", false, null), ("string", "last_name", false, null), ("string", "email", false, null),
        ("int32", "tenant_id", true, null), ("boolean", "active", false, null), ("int64", "created_at", false, "io.debezium.time.MicroTimestamp"),
        ("string", "notes", true, null));

    private static readonly string OrderSchema = ValueSchema("orders",
        ("int32", "id", false, null), ("int32", "customer_id", false, null), ("string", "status", false, null), ("string", "total", false, null),
        ("string", "currency", false, null), ("int64", "created_at", false, "io.debezium.time.MicroTimestamp"));

    /// <summary>The value schema JsonConverter writes for a Debezium Postgres envelope of the table (before, after, source, transaction, op, ts_*).</summary>
    private static string ValueSchema(string table, params (string Type, string Field, bool Optional, string? Name)[] columns)
    {
        static string Field((string Type, string Field, bool Optional, string? Name) c) =>
            $"{{\"type\":\"{c.Type}\",\"optional\":{(c.Optional ? "true" : "false")},{(c.Name is null ? "" : $"\"name\":\"{c.Name}\",\"version\":1,")}\"field\":\"{c.Field}\"}}";

        var row = string.Join(",", columns.Select(Field));
        var source = string.Join(",", new (string, string, bool, string?)[]
        {
            ("string", "version", false, null), ("string", "connector", false, null), ("string", "name", false, null), ("int64", "ts_ms", false, null),
            ("string", "snapshot", true, null), ("string", "db", false, null), ("string", "sequence", true, null), ("int64", "ts_us", true, null),
            ("int64", "ts_ns", true, null), ("string", "schema", false, null), ("string", "table", false, null), ("int64", "txId", true, null),
            ("int64", "lsn", true, null), ("int64", "xmin", true, null),
        }.Select(Field));
        return $"{{\"type\":\"struct\",\"fields\":[" +
            $"{{\"type\":\"struct\",\"fields\":[{row}],\"optional\":true,\"name\":\"dbserver1.public.{table}.Value\",\"field\":\"before\"}}," +
            $"{{\"type\":\"struct\",\"fields\":[{row}],\"optional\":true,\"name\":\"dbserver1.public.{table}.Value\",\"field\":\"after\"}}," +
            $"{{\"type\":\"struct\",\"fields\":[{source}],\"optional\":false,\"name\":\"io.debezium.connector.postgresql.Source\",\"field\":\"source\"}}," +
            "{\"type\":\"struct\",\"fields\":[{\"type\":\"string\",\"optional\":false,\"field\":\"id\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"total_order\"},{\"type\":\"int64\",\"optional\":false,\"field\":\"data_collection_order\"}],\"optional\":true,\"name\":\"event.block\",\"version\":1,\"field\":\"transaction\"}," +
            "{\"type\":\"string\",\"optional\":false,\"field\":\"op\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ms\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_us\"},{\"type\":\"int64\",\"optional\":true,\"field\":\"ts_ns\"}]," +
            $"\"optional\":false,\"name\":\"dbserver1.public.{table}.Envelope\",\"version\":2}}";
    }
}
