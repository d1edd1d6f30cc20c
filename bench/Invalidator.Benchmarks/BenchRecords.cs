using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Invalidator.Benchmarks;

/// <summary>One Kafka record as the worker receives it: topic, key bytes and value bytes (empty = null).</summary>
internal sealed record BenchRecord(string Name, string Topic, byte[] Key, byte[] Value);

/// <summary>
/// Records to measure with: the real captured fixtures (shared/fixtures/debezium), and many distinct records
/// generated in the shape of the <c>pg-create-schema-docs.json</c> fixture (public.customers, Debezium 2.x
/// source block, JsonConverter key), with or without schemas.
/// </summary>
internal static class BenchRecords
{
    public const string CustomersTopic = "dbserver1.public.customers";

    /// <summary>Rules for the fixtures' tables and the generated customers.</summary>
    public const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
            tags: ["tenant:{tenant_id}"]
            truncate: ["customers:all"]
          inventory.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
          inventory.products:
            keys: ["product:{id}", "product:name:{name|lower}"]
          inventory.orders:
            keys: ["order:{id}"]
          public.profile:
            keys: ["profile:{id}"]
          public.users:
            keys: ["user:{id}"]
            ops: [c, u, d, r]
          public.orders:
            keys: ["order:{id}"]
            ops: [c, u, d, r]
          public.tickets:
            keys: ["ticket:{id}"]
          public.mini_ticker:
            keys: ["ticker:{id}"]
        """;

    /// <summary>Rules of the generated customers only: two keys per image, no tags (so deletes are all plain keys).</summary>
    public const string CustomerKeyRules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
        """;

    private static readonly Lazy<string?> FixtureDirectory = new(LocateFixtures);

    public static string? FixturesPath => FixtureDirectory.Value;

    /// <summary>Every fixture file, as record bytes; empty when shared/fixtures is not beside the checkout.</summary>
    public static IReadOnlyList<BenchRecord> Fixtures()
    {
        if (FixturesPath is not { } directory)
        {
            return [];
        }

        return [.. Directory.EnumerateFiles(directory, "*.json").Order(StringComparer.Ordinal).Select(LoadFixture)];
    }

    public static BenchRecord Fixture(string name) =>
        FixturesPath is { } directory ? LoadFixture(Path.Combine(directory, name)) : throw new FileNotFoundException(name);

    /// <summary>
    /// An update of customer <paramref name="id"/> with a full before image whose email changed, as Debezium
    /// 2.x writes it for a REPLICA IDENTITY FULL table: 3 keys (id, old email, new email) per record.
    /// </summary>
    public static BenchRecord Customer(int id, bool withSchema)
    {
        var now = 1_700_000_000_000L + id;
        var before = Row(id, $"Old.{id}@Example.com", id % 16);
        var after = Row(id, $"user{id}@example.com", id % 16);
        var payload = new JsonObject
        {
            ["before"] = before,
            ["after"] = after,
            ["source"] = new JsonObject
            {
                ["version"] = "2.7.3.Final",
                ["connector"] = "postgresql",
                ["name"] = "dbserver1",
                ["ts_ms"] = now,
                ["ts_us"] = now * 1000,
                ["ts_ns"] = now * 1_000_000,
                ["snapshot"] = "false",
                ["db"] = "app",
                ["sequence"] = $"[\"{24023119 + id}\",\"{24023128 + id}\"]",
                ["schema"] = "public",
                ["table"] = "customers",
                ["txId"] = 555 + id,
                ["lsn"] = 24023128L + id,
                ["xmin"] = null,
            },
            ["transaction"] = null,
            ["op"] = "u",
            ["ts_ms"] = now + 7,
            ["ts_us"] = (now + 7) * 1000,
            ["ts_ns"] = (now + 7) * 1_000_000,
        };
        var key = new JsonObject { ["id"] = id }.ToJsonString();
        var value = payload.ToJsonString();
        if (withSchema)
        {
            // JsonConverter with schemas.enable=true: {"schema": ..., "payload": ...} for key and value.
            key = $"{{\"schema\":{KeySchemaJson},\"payload\":{key}}}";
            value = $"{{\"schema\":{ValueSchemaJson.Value},\"payload\":{value}}}";
        }

        return new BenchRecord(withSchema ? "customer-schema" : "customer-schemaless", CustomersTopic, Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value));
    }

    /// <summary>The keys a <see cref="Customer"/> record invalidates under <see cref="CustomerKeyRules"/>.</summary>
    public static string[] CustomerKeys(int id) =>
        [$"customer:{id}", $"customer:email:old.{id}@example.com", $"customer:email:user{id}@example.com"];

    private static JsonObject Row(int id, string email, int tenant) => new()
    {
        ["id"] = id,
        ["first_name"] = "Anne" + id.ToString(CultureInfo.InvariantCulture),
        ["last_name"] = "Kretchmar",
        ["email"] = email,
        ["tenant_id"] = tenant,
    };

    private static readonly string KeySchemaJson = new JsonObject
    {
        ["type"] = "struct",
        ["fields"] = new JsonArray(new JsonObject { ["type"] = "int32", ["optional"] = false, ["field"] = "id" }),
        ["optional"] = false,
        ["name"] = "dbserver1.public.customers.Key",
    }.ToJsonString();

    /// <summary>The value schema of pg-create-schema-docs.json (before/after/source/op/ts), with a tenant_id column added.</summary>
    private static readonly Lazy<string> ValueSchemaJson = new(() =>
    {
        JsonObject schema;
        if (FixturesPath is { } directory && File.Exists(Path.Combine(directory, "pg-create-schema-docs.json")))
        {
            var fixture = JsonNode.Parse(File.ReadAllText(Path.Combine(directory, "pg-create-schema-docs.json")))!;
            schema = fixture["value"]!["schema"]!.DeepClone().AsObject();
        }
        else
        {
            schema = new JsonObject { ["type"] = "struct", ["fields"] = new JsonArray(RowSchema("before"), RowSchema("after")), ["optional"] = false };
        }

        foreach (var field in schema["fields"]!.AsArray())
        {
            if (field!["field"]!.GetValue<string>() is "before" or "after")
            {
                field["fields"]!.AsArray().Add(new JsonObject { ["type"] = "int32", ["optional"] = true, ["field"] = "tenant_id" });
            }
        }

        return schema.ToJsonString();
    });

    private static JsonObject RowSchema(string name) => new()
    {
        ["type"] = "struct",
        ["fields"] = new JsonArray(
            new JsonObject { ["type"] = "int32", ["optional"] = false, ["field"] = "id" },
            new JsonObject { ["type"] = "string", ["optional"] = false, ["field"] = "first_name" },
            new JsonObject { ["type"] = "string", ["optional"] = false, ["field"] = "last_name" },
            new JsonObject { ["type"] = "string", ["optional"] = false, ["field"] = "email" }),
        ["optional"] = true,
        ["field"] = name,
    };

    private static BenchRecord LoadFixture(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        return new BenchRecord(
            Path.GetFileName(path),
            root.GetProperty("topic").GetString()!,
            Bytes(root.GetProperty("key")),
            Bytes(root.GetProperty("value")));
    }

    private static byte[] Bytes(JsonElement element) =>
        element.ValueKind == JsonValueKind.Null ? [] : Encoding.UTF8.GetBytes(element.GetRawText());

    /// <summary>shared/fixtures/debezium sits beside the repository checkout: look up from the binary and the working directory.</summary>
    private static string? LocateFixtures()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "fixtures", "debezium");
                if (Directory.Exists(candidate))
                {
                    return candidate;
                }
            }
        }

        return null;
    }
}
