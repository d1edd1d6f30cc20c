using System.Globalization;
using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Planning;

/// <summary>
/// The one-pass read reads a record's before and after rows during the envelope's scan for the table its topic's last
/// record had, and takes them only when the record proves that guess. Many generated records, where the guess is often
/// wrong (a topic's records change tables, go to tables without a rule or with another replica identity), with shuffled
/// field orders, escaped names, schemas with decimals, unwrap metadata, odd keys and timestamps: every record the one-pass
/// path takes plans, and reads its rows, exactly as the full decode does.
/// </summary>
public class OnePassGuessTests
{
    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
          public.orders:
            keys: ["order:{id}"]
            tags: ["customer-orders:{customer_id}"]
          public.items:
            keys: ["item:{id}:{price}"]
            decimals: [price]
          public.profile:
            keys: ["profile:{id}:{email}"]
            replicaIdentity: default
          public.accounts:
            keys: ["account:{id}", "account:email:{email}"]
            changed: [email]
        """;

    private static readonly string[] Tables = ["customers", "orders", "items", "profile", "accounts", "norule"];
    private static readonly string[] Columns = ["id", "email", "customer_id", "price", "name", "notes"];

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Generated_records_whose_tables_change_under_a_topic_read_as_the_full_decode_reads_them(int seed)
    {
        var rules = RulesLoader.Parse(Rules, "guess-rules.yaml");
        var random = new Random(seed);
        var planned = new DebeziumDecoder(); // the worker's: one decoder for both paths
        var planner = new OnePassPlanner(new InvalidationPlanner(rules), rules, planned);
        var direct = new DebeziumDecoder(); // the same records read into rows the test can see
        var full = new DebeziumDecoder();
        var scratch = new DecodeScratch();
        var taken = 0;
        var lastTable = new Dictionary<string, string>();
        var wrongGuesses = 0;
        for (var i = 0; i < 3000; i++)
        {
            var topic = "gen" + random.Next(3) + ".public.mixed";
            var table = Tables[random.Next(random.Next(4) == 0 ? Tables.Length : 2)];
            var (key, value) = Record(random, table, i);

            var fastBatch = new InvalidationBatch();
            if (planner.TryPlan(topic, key, value, fastBatch, out var fast))
            {
                taken++;
                AssertSamePlan(rules, planned.Decode(topic, key, value, rules.DecoderHints), fast, fastBatch);
            }
            else
            {
                Assert.True(fastBatch.IsEmpty);
            }

            if (direct.TryDecodeInto(topic, key, value, rules.DecoderHints, scratch))
            {
                var change = full.Decode(topic, key, value, rules.DecoderHints).Change!;
                AssertSameRows(rules, change, scratch);
                if (lastTable.TryGetValue(topic, out var last) && last != change.Table)
                {
                    wrongGuesses++;
                }

                lastTable[topic] = change.Table;
            }
        }

        // Controls: many records take the one-pass path, the scan's rows are taken, and the guess is often wrong.
        Assert.True(taken > 1000, $"only {taken} of 3000 records took the one-pass path");
        Assert.True(scratch.Prefill.Taken > 300, $"only {scratch.Prefill.Taken} rows were read during the scan");
        Assert.True(wrongGuesses > 300, $"only {wrongGuesses} records changed their topic's table");
    }

    [Fact]
    public void A_customer_update_after_one_of_its_table_reads_its_rows_during_the_scan()
    {
        var rules = RulesLoader.Parse(Rules, "guess-rules.yaml");
        var decoder = new DebeziumDecoder();
        var scratch = new DecodeScratch();
        var value = """{"before":{"id":1,"email":"a@x"},"after":{"id":1,"email":"b@x"},"source":{"schema":"public","table":"customers"},"op":"u"}"""u8.ToArray();

        Assert.True(decoder.TryDecodeInto("t.public.customers", [], value, rules.DecoderHints, scratch));
        Assert.Equal(0, scratch.Prefill.Taken); // nothing known of the topic yet: read from the segments
        Assert.True(decoder.TryDecodeInto("t.public.customers", [], value, rules.DecoderHints, scratch));
        Assert.Equal(2, scratch.Prefill.Taken);
        Assert.True(scratch.After!.TryGetText("email", out _, out var email));
        Assert.Equal("b@x", email.ToString());
    }

    private static void AssertSamePlan(RuleSet rules, DecodedRecord decoded, RecordPlan fast, InvalidationBatch fastBatch)
    {
        var change = Assert.IsType<ChangeEvent>(decoded.Change);
        var plan = new InvalidationPlanner(rules).Plan(change);
        Assert.Equal(change.Table, fast.Table);
        Assert.Equal(change.Operation, fast.Operation);
        Assert.Equal(change.CommitTime, fast.CommitTime);
        Assert.Equal(plan.Outcome, fast.Outcome);
        Assert.Equal(plan.Unresolved, fast.Unresolved);
        var slowBatch = new InvalidationBatch();
        slowBatch.Add(plan);
        Assert.Equal(slowBatch.Keys.Order(StringComparer.Ordinal), fastBatch.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(slowBatch.Tags.Order(StringComparer.Ordinal), fastBatch.Tags.Order(StringComparer.Ordinal));
        Assert.Equal(slowBatch.PlanCount, fastBatch.PlanCount);
    }

    private static void AssertSameRows(RuleSet rules, ChangeEvent change, DecodeScratch scratch)
    {
        Assert.Equal(change.Table, scratch.Table);
        Assert.Equal(change.Operation, scratch.Operation);
        Assert.Equal(change.CommitTime, scratch.CommitTime);
        var used = rules.DecoderHints.For(change.Table)!.UsedColumns!;
        AssertSameRow(used, change.Before, scratch.Before);
        AssertSameRow(used, change.After, scratch.After);
        AssertSameRow(used, change.Key, scratch.Key);
    }

    private static void AssertSameRow(string[] used, RowImage? expected, IRowValues? actual)
    {
        Assert.Equal(expected is null, actual is null);
        if (expected is null)
        {
            return;
        }

        foreach (var column in used)
        {
            var has = ((IRowValues)expected).TryGetText(column, out var kind, out var text);
            var hasActual = actual!.TryGetText(column, out var actualKind, out var actualText);
            Assert.Equal(has, hasActual);
            Assert.Equal(kind, actualKind);
            Assert.Equal(text.ToString(), actualText.ToString());
        }
    }

    private static (byte[] Key, byte[] Value) Record(Random random, string table, int i)
    {
        var withSchema = random.Next(4) == 0;
        var op = Pick(random, "u", "u", "u", "c", "d", "r", "t", "x");
        var fields = new List<string>();
        if (random.Next(12) != 0)
        {
            fields.Add(Name(random, "before") + ":" + (op == "c" || random.Next(8) == 0 ? "null" : Row(random, i)));
        }

        if (random.Next(12) != 0)
        {
            fields.Add(Name(random, "after") + ":" + (op == "d" || random.Next(10) == 0 ? "null" : Row(random, i + 1)));
        }

        fields.Add(Name(random, "source") + ":" + Source(random, table));
        if (random.Next(20) != 0)
        {
            fields.Add(Name(random, "op") + ":\"" + op + "\"");
        }

        fields.AddRange(Timestamps(random, ""));
        if (random.Next(3) == 0)
        {
            fields.Add("\"transaction\":null");
        }

        if (random.Next(30) == 0)
        {
            fields.Add("\"__deleted\":\"false\"");
        }

        Shuffle(random, fields);
        var payload = "{" + string.Join(",", fields) + "}";
        var value = withSchema ? "{\"schema\":" + Schema(random) + ",\"payload\":" + payload + "}" : payload;
        return (Encoding.UTF8.GetBytes(Key(random, i)), Encoding.UTF8.GetBytes(value));
    }

    private static string Row(Random random, int i)
    {
        var columns = new List<string>();
        foreach (var column in Columns)
        {
            if (random.Next(8) != 0)
            {
                columns.Add(Name(random, column) + ":" + Value(random, column, i));
            }
        }

        if (random.Next(40) == 0)
        {
            columns.Add("\"notes\":1"); // a column twice
        }

        Shuffle(random, columns);
        return "{" + string.Join(random.Next(10) == 0 ? " , " : ",", columns) + "}";
    }

    private static string Value(Random random, string column, int i) => random.Next(14) switch
    {
        0 => "null",
        1 => "\"__debezium_unavailable_value\"",
        2 => "[\"__debezium_unavailable_value\"]",
        3 => "{\"scale\":2,\"value\":\"AQI=\"}",
        4 => "true",
        5 => "\"A\\u0040B\\\"c\"",
        6 => "{\"nested\":[1,2,{\"x\":null}]}",
        7 => "12.50",
        8 => "\"1" + (i % 7).ToString(CultureInfo.InvariantCulture) + ".25\"",
        9 => "\"AJE=\"",
        _ => column is "email" or "name" ? $"\"User{i % 5}@Example.com\"" : (i % 11).ToString(CultureInfo.InvariantCulture),
    };

    private static string Source(Random random, string table)
    {
        var fields = new List<string>
        {
            "\"version\":\"2.7.3.Final\"",
            "\"connector\":\"postgresql\"",
            "\"db\":\"app\"",
            "\"lsn\":123",
            "\"xmin\":null",
            "\"sequence\":\"[\\\"1\\\",\\\"2\\\"]\"",
            Name(random, "schema") + ":\"public\"",
            Name(random, "table") + ":\"" + table + "\"",
        };
        fields.AddRange(Timestamps(random, ""));
        Shuffle(random, fields);
        return "{" + string.Join(",", fields) + "}";
    }

    private static IEnumerable<string> Timestamps(Random random, string prefix)
    {
        foreach (var unit in new[] { "ms", "us", "ns" })
        {
            if (random.Next(3) != 0)
            {
                var value = random.Next(10) switch
                {
                    0 => "null",
                    1 => "1.5",
                    2 => "\"1700000000000\"",
                    3 => "9223372036854775807",
                    4 => "99999999999999999999",
                    5 => "-5",
                    _ => (1_700_000_000_000L * (unit == "ms" ? 1 : unit == "us" ? 1000 : 1_000_000) + random.Next(1000)).ToString(CultureInfo.InvariantCulture),
                };
                yield return Name(random, prefix + "ts_" + unit) + ":" + value;
            }
        }
    }

    private static string Schema(Random random) => random.Next(2) == 0
        ? "{\"type\":\"struct\",\"optional\":false,\"name\":\"gen.Envelope\"}"
        : "{\"type\":\"struct\",\"fields\":[" + ImageSchema("before") + "," + ImageSchema("after") + "],\"optional\":false,\"name\":\"gen.Envelope\"}";

    private static string ImageSchema(string field) =>
        "{\"type\":\"struct\",\"fields\":[{\"type\":\"bytes\",\"optional\":true,\"name\":\"org.apache.kafka.connect.data.Decimal\",\"parameters\":{\"scale\":\"2\"},\"field\":\"price\"}],\"optional\":true,\"field\":\"" + field + "\"}";

    private static string Key(Random random, int i) => random.Next(12) switch
    {
        0 => "",
        1 => "null",
        2 => " {\"id\":" + i + "} ",
        3 => "{\"schema\":{\"type\":\"struct\"},\"payload\":{\"id\":" + i + "}}",
        4 => "{\"payload\":" + i + ",\"id\":" + i + "}",
        5 => "{\"id\":" + i + "} x",
        6 => "{\"i\\u0064\":" + i + "}",
        7 => "{\"id\":" + i + ",\"email\":\"k@x\"}",
        _ => "{\"id\":" + i + "}",
    };

    /// <summary>The field's name, now and then escaped.</summary>
    private static string Name(Random random, string name) =>
        random.Next(25) == 0 ? "\"\\u" + ((int)name[0]).ToString("x4", CultureInfo.InvariantCulture) + name[1..] + "\"" : "\"" + name + "\"";

    private static string Pick(Random random, params string[] choices) => choices[random.Next(choices.Length)];

    private static void Shuffle(Random random, List<string> items)
    {
        for (var i = items.Count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (items[i], items[j]) = (items[j], items[i]);
        }
    }
}
