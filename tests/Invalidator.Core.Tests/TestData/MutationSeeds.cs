using System.Text;
using System.Text.Json;

namespace Invalidator.TestData;

/// <summary>A real record to break: its name, topic, key and value bytes (empty for null).</summary>
public sealed record SeedRecord(string Name, string Topic, byte[] Key, byte[] Value);

/// <summary>
/// What <see cref="RecordMutator"/> breaks: every record shape of <c>TestData/RecordShapes</c> (the issue 17 example among
/// them) and every real Debezium message of shared/fixtures/debezium (found beside the checkout, as the decoder tests
/// find it), with rules for all their tables so that planning, not only decoding, meets the broken records.
/// </summary>
public static class MutationSeeds
{
    /// <summary>The shapes' rules and the fixtures' tables, with decimals, a replica identity and a format to read by.</summary>
    public const string Rules = """
        tables:
          shop.vendors:
            keys: ["vendor:{vendor_id}", "vendor:source:{source}"]
          shop.audit_entries:
            keys: ["audit:{entry_id}", "audit:op:{op}"]
          shop.change_log:
            keys: ["changelog:{ts_ms}:{op}"]
            format: unwrapped
          shop.ledger:
            keys: ["ledger:{entry}"]
            format: envelope
          shop.invoices:
            keys: ["invoice:{id}", "invoice:status:{status}"]
          shop.transaction:
            keys: ["txn:{txn_id}"]
          shop.stock_items:
            keys: ["stock:{sku}", "stock:warehouse:{warehouse}"]
          shop.price_list:
            keys: ["price:{item_code}:{amount}"]
            tags: ["currency:{currency}"]
            decimals: [amount]
          shop.members:
            keys: ["member:{member_id}", "member:handle:{handle}"]
            tags: ["team:{team_id}"]
            replicaIdentity: default
          inventory.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}", "customer:bio:{biography}"]
            tags: ["name:{last_name|upper}"]
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
            truncate: ["customers:all"]
          inventory.products:
            keys: ["product:{id}", "product:name:{name|lower}:{weight}"]
            changed: [name, weight]
            leases: true
          public.profile:
            keys: ["profile:{id}", "profile:color:{color}"]
            replicaIdentity: default
          public.users:
            keys: ["user:{id}", "user:email:{email}"]
          public.orders:
            keys: ["order:{order_id}", "order:{o_key}:{o_numeric}:{o_bytea}:{o_json}:{o_uuid}:{o_timestampz_6}"]
          public.orders_tx:
            keys: ["order:{order_id}:{price}"]
            decimals: [price]
          public.tickets:
            keys: ["ticket:{id}:{ticket_price}:{discount}"]
            tags: ["owner:{owner_id}"]
          public.t:
            keys: ["t:{id}"]
        """;

    public static IReadOnlyList<SeedRecord> All() =>
        [
            .. RecordShapes.All().Select(s => new SeedRecord(s.Name, s.Topic, s.Key, s.Value)),
            .. FixtureFiles().Select(LoadFixture),
        ];

    private static IEnumerable<string> FixtureFiles() =>
        Directory.EnumerateFiles(FixturesDirectory(), "*.json").Order(StringComparer.Ordinal);

    private static SeedRecord LoadFixture(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = document.RootElement;
        return new SeedRecord(Path.GetFileName(path), root.GetProperty("topic").GetString()!, Bytes(root.GetProperty("key")), Bytes(root.GetProperty("value")));
    }

    private static byte[] Bytes(JsonElement element) =>
        element.ValueKind == JsonValueKind.Null ? [] : Encoding.UTF8.GetBytes(element.GetRawText());

    private static string FixturesDirectory()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "shared", "fixtures", "debezium");
            if (Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException($"No shared/fixtures/debezium in any parent of {AppContext.BaseDirectory}: the shared/ folder must sit beside the checkout.");
    }
}
