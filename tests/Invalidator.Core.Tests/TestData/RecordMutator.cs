using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Invalidator.TestData;

/// <summary>A Kafka record to feed the decoder: its topic, key and value bytes (empty for null), and how it was made.</summary>
public sealed record MutatedRecord(string Topic, byte[] Key, byte[] Value, string Mutation)
{
    public override string ToString() => Mutation;
}

/// <summary>
/// Breaks real records the ways hostile or broken producers do: bytes flipped, fields deleted, a value swapped for one
/// of another JSON type, numbers out of any range (microseconds in <c>ts_ms</c>, beyond int64, 1e400, a Decimal scale of
/// int.MaxValue), the value cut short. Seeded, so a failure is reproduced from the seed it prints.
/// </summary>
public sealed class RecordMutator(int seed)
{
    // Numbers a decoder must survive: time fields in the wrong unit, the int64 and int32 edges and just past them,
    // doubles out of range (valid JSON, infinite as a double), fractions and exponents where integers are expected.
    private static readonly string[] HostileNumbers =
    [
        "1562202942666382", "1562202942666382000", "-1562202942666382", "253402300800000", "-62135596800001",
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "-9223372036854775809",
        "922337203685477580", "-922337203685477580", "18446744073709551615",
        "2147483647", "-2147483648", "2147483648", "-2147483649", "16384", "-16384",
        "1e400", "-1e400", "1e308", "4.9e-324", "0.5", "-0", "1E+2", "99999999999999999999999999999999999999",
    ];

    private static readonly string[] TimeFields = ["ts_ms", "ts_us", "ts_ns"];

    private readonly Random _random = new(seed);

    public int Seed => seed;

    /// <summary>One to three mutations of the record, each chosen at random.</summary>
    public MutatedRecord Mutate(string topic, byte[] key, byte[] value)
    {
        var steps = new List<string>();
        for (var i = _random.Next(1, 4); i > 0; i--)
        {
            var onKey = key.Length > 0 && _random.Next(6) == 0;
            var (mutated, step) = MutateOne(onKey ? key : value);
            if (onKey)
            {
                key = mutated;
            }
            else
            {
                value = mutated;
            }

            steps.Add((onKey ? "key: " : "value: ") + step);
        }

        return new MutatedRecord(topic, key, value, string.Join("; ", steps));
    }

    private (byte[] Bytes, string Step) MutateOne(byte[] json)
    {
        var choice = _random.Next(100);
        if (choice < 15 || json.Length == 0)
        {
            return FlipBytes(json);
        }

        if (choice < 20)
        {
            var length = _random.Next(json.Length);
            return (json[..length], $"cut to {length} bytes");
        }

        JsonNode? root;
        try
        {
            root = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 256 });
            // Nodes are read lazily: meet bad text (not UTF-8, a lone surrogate) here, not while mutating.
            _ = Nodes(root).Count(n => n.GetValueKind() == JsonValueKind.String && n.GetValue<string>() is not null);
        }
        catch (Exception ex) when (ex is JsonException or ArgumentException or InvalidOperationException)
        {
            return FlipBytes(json); // already broken (a repeated property, invalid text): break it further
        }

        var step = choice switch
        {
            < 40 => DeleteField(root),
            < 60 => SwapType(root),
            < 80 => NumberOutOfRange(root),
            _ => TimeOutOfRange(root),
        };
        return (root is null ? "null"u8.ToArray() : Encoding.UTF8.GetBytes(root.ToJsonString()), step);
    }

    private (byte[] Bytes, string Step) FlipBytes(byte[] json)
    {
        if (json.Length == 0)
        {
            var bytes = new byte[_random.Next(1, 8)];
            _random.NextBytes(bytes);
            return (bytes, $"empty part replaced by {bytes.Length} random bytes");
        }

        var copy = json.ToArray();
        var count = _random.Next(1, 5);
        var at = new List<int>(count);
        for (var i = 0; i < count; i++)
        {
            var position = _random.Next(copy.Length);
            copy[position] = _random.Next(3) == 0 ? (byte)_random.Next(256) : (byte)(copy[position] ^ (1 << _random.Next(8)));
            at.Add(position);
        }

        return (copy, $"bytes flipped at {string.Join(",", at)}");
    }

    private string DeleteField(JsonNode? root)
    {
        var properties = Nodes(root).Where(n => n.Parent is JsonObject).ToList();
        if (properties.Count == 0)
        {
            return "nothing to delete";
        }

        var node = properties[_random.Next(properties.Count)];
        var path = node.GetPath();
        ((JsonObject)node.Parent!).Remove(node.GetPropertyName());
        return $"deleted {path}";
    }

    private string SwapType(JsonNode? root)
    {
        var nodes = Nodes(root).Where(n => n.Parent is not null).ToList();
        if (nodes.Count == 0)
        {
            return "nothing to swap";
        }

        var node = nodes[_random.Next(nodes.Count)];
        var path = node.GetPath();
        var kind = node.GetValueKind();
        JsonNode? replacement;
        do
        {
            replacement = _random.Next(7) switch
            {
                0 => null,
                1 => JsonValue.Create(_random.Next(2) == 0),
                2 => JsonValue.Create(_random.Next(-5, 100_000)),
                3 => JsonValue.Create(RandomText()),
                4 => new JsonObject { ["x"] = 1 },
                5 => new JsonArray(1, "a", null),
                _ => new JsonObject(),
            };
        }
        while ((replacement?.GetValueKind() ?? JsonValueKind.Null) == kind);

        Replace(node, replacement);
        return $"{path} ({kind}) became {replacement?.ToJsonString() ?? "null"}";
    }

    private string NumberOutOfRange(JsonNode? root)
    {
        // Numbers, and strings that hold one (a Decimal's schema scale is the string "2").
        var numbers = Nodes(root)
            .Where(n => n.Parent is not null && (n.GetValueKind() == JsonValueKind.Number
                || (n.GetValueKind() == JsonValueKind.String && long.TryParse(n.GetValue<string>(), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))))
            .ToList();
        if (numbers.Count == 0)
        {
            return SwapType(root);
        }

        var node = numbers[_random.Next(numbers.Count)];
        var path = node.GetPath();
        var hostile = HostileNumbers[_random.Next(HostileNumbers.Length)];
        Replace(node, node.GetValueKind() == JsonValueKind.String && _random.Next(2) == 0 ? JsonValue.Create(hostile) : Number(hostile));
        return $"{path} became {hostile}";
    }

    /// <summary>A timestamp field of the source block, the envelope or the unwrap SMT set to an out-of-range number.</summary>
    private string TimeOutOfRange(JsonNode? root)
    {
        var holders = Nodes(root).OfType<JsonObject>().Where(o => o.GetPath() is var p && (p == "$" || p.EndsWith(".payload", StringComparison.Ordinal) || p.EndsWith(".source", StringComparison.Ordinal))).ToList();
        if (holders.Count == 0)
        {
            return NumberOutOfRange(root);
        }

        var holder = holders[_random.Next(holders.Count)];
        var field = TimeFields[_random.Next(TimeFields.Length)];
        if (holder.ContainsKey("__op") || holder.ContainsKey("__deleted") || _random.Next(4) == 0)
        {
            field = (_random.Next(2) == 0 ? "__source_" : "__") + field;
        }

        var hostile = HostileNumbers[_random.Next(11)]; // the time-like ones
        holder[field] = Number(hostile);
        return $"{holder.GetPath()}.{field} set to {hostile}";
    }

    private string RandomText()
    {
        var pool = new[] { "", "x", "\u0000", "é", "__debezium_unavailable_value", "AdUL", "not base64!", "2147483648", "c", "d", "u", new string('z', 300) };
        return pool[_random.Next(pool.Length)];
    }

    private static JsonNode Number(string text) => JsonNode.Parse(text)!;

    private static void Replace(JsonNode node, JsonNode? replacement)
    {
        switch (node.Parent)
        {
            case JsonObject parent:
                parent[node.GetPropertyName()] = replacement;
                break;
            case JsonArray array:
                array[node.GetElementIndex()] = replacement;
                break;
        }
    }

    private static IEnumerable<JsonNode> Nodes(JsonNode? root)
    {
        if (root is null)
        {
            yield break;
        }

        var stack = new Stack<JsonNode>();
        stack.Push(root);
        while (stack.Count > 0)
        {
            var node = stack.Pop();
            yield return node;
            switch (node)
            {
                case JsonObject obj:
                    foreach (var (_, child) in obj)
                    {
                        if (child is not null)
                        {
                            stack.Push(child);
                        }
                    }

                    break;
                case JsonArray array:
                    foreach (var child in array)
                    {
                        if (child is not null)
                        {
                            stack.Push(child);
                        }
                    }

                    break;
            }
        }
    }
}
