using System.Globalization;
using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.TestData;

namespace Invalidator.Core.Tests.ChangeEvents;

/// <summary>
/// Deletes shaped like REPLICA IDENTITY DEFAULT's (a before image of the key's columns and type defaults elsewhere) of
/// a table whose rule does not state <c>replicaIdentity</c> are flagged as suspect; any value that is not a type default
/// clears the suspicion, and the worker's one-pass path leaves every delete that may match to the full decode.
/// </summary>
public class DefaultIdentityShapeTests
{
    private const string Topic = "mall.shop.members";

    private static RuleSet Rules(string identityLine = "") => RulesLoader.Parse($$"""
        tables:
          shop.members:
            keys: ["member:{member_id}", "member:handle:{handle}"]
            tags: ["team:{team_id}"]
            {{identityLine}}
        """, "rules.yaml");

    private static ChangeEvent Decode(string key, string value, RuleSet rules) =>
        new DebeziumDecoder().Decode(Topic, Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value), rules.DecoderHints).Change!;

    private static string Delete(string before) =>
        $$"""{"before":{{before}},"after":null,"source":{"connector":"postgresql","schema":"shop","table":"members"},"op":"d","ts_ms":1}""";

    [Fact]
    public void The_record_shape_of_a_default_identity_delete_is_suspect_without_the_field_and_not_with_it()
    {
        var shape = RecordShapes.Load("class9-delete-under-default-identity.json");
        var key = Encoding.UTF8.GetString(shape.Key);
        var value = Encoding.UTF8.GetString(shape.Value);

        Assert.True(Decode(key, value, Rules()).SuspectDefaultIdentity);
        Assert.False(Decode(key, value, Rules("replicaIdentity: default")).SuspectDefaultIdentity);
        Assert.False(Decode(key, value, Rules("replicaIdentity: full")).SuspectDefaultIdentity);
        Assert.False(new DebeziumDecoder().Decode(Topic, shape.Key, shape.Value).Change!.SuspectDefaultIdentity); // no rules: no rule to fix
    }

    [Theory]
    [InlineData("""{"member_id":31,"handle":"","team_id":0}""", """{"member_id":31}""", true)]
    [InlineData("""{"member_id":31,"handle":null,"team_id":0.00,"active":false,"joined":"1970-01-01T00:00:00Z","at":"00:00:00Z","n":-0,"e":0E-2}""", """{"member_id":31}""", true)]
    [InlineData("""{"member_id":31,"handle":"ann","team_id":0}""", """{"member_id":31}""", false)] // a real handle
    [InlineData("""{"member_id":31,"handle":"","team_id":7}""", """{"member_id":31}""", false)] // a real team
    [InlineData("""{"member_id":31,"handle":"","team_id":true}""", """{"member_id":31}""", false)]
    [InlineData("""{"member_id":31,"handle":"__debezium_unavailable_value","team_id":0}""", """{"member_id":31}""", false)]
    [InlineData("""{"member_id":31}""", """{"member_id":31}""", false)] // nothing but the key: nothing wrong to render
    [InlineData("""{"member_id":31,"handle":"","team_id":0}""", """{"member_id":31,"tenant":2}""", false)] // the key's column is not in the image
    [InlineData("""{"member_id":null,"handle":"","team_id":0}""", """{"member_id":31}""", false)]
    public void A_delete_is_suspect_only_with_the_key_s_columns_and_type_defaults(string before, string key, bool suspect)
    {
        Assert.Equal(suspect, Decode(key, Delete(before), Rules()).SuspectDefaultIdentity);
        Assert.Equal(suspect, Decode($"{{\"schema\":null,\"payload\":{key}}}", $"{{\"schema\":null,\"payload\":{Delete(before)}}}", Rules()).SuspectDefaultIdentity);
    }

    [Fact]
    public void Creates_updates_and_reads_are_never_suspect()
    {
        foreach (var op in new[] { "c", "u", "r" })
        {
            var value = $$"""{"before":{"member_id":31,"handle":"","team_id":0},"after":{"member_id":31,"handle":"","team_id":0},"source":{"schema":"shop","table":"members"},"op":"{{op}}"}""";

            Assert.False(Decode("""{"member_id":31}""", value, Rules()).SuspectDefaultIdentity, op);
        }
    }

    [Fact]
    public void An_unwrapped_delete_of_the_same_shape_is_suspect()
    {
        var value = """{"member_id":31,"handle":"","team_id":0,"__deleted":"true"}""";

        Assert.True(Decode("""{"member_id":31}""", value, Rules()).SuspectDefaultIdentity);
    }

    [Fact]
    public void Generated_deletes_are_suspect_exactly_while_every_other_column_holds_a_type_default()
    {
        // Never: a delete with one value that is not a type default is not suspect, however the rest looks; always: the
        // shape itself is. And the one-pass path takes every delete that cannot match and leaves the others to the full decode.
        string[] defaults = ["0", "0.0", "-0", "0E-2", "0.000", "\"\"", "false", "null", "\"1970-01-01\"", "\"1970-01-01T00:00:00Z\"", "\"1970-01-01 00:00:00.000\"", "\"00:00:00Z\"", "\"0\"", "\"0.00\""];
        string[] values = ["1", "-3", "0.5", "1E+2", "\"ann\"", "\"0x\"", "true", "\"1970-01-02\"", "\"00:00:01\"", "[0]", "{\"a\":0}", "\"false \"", "\"null\"", "\" \""];
        var random = new Random(1707);
        var rules = Rules();
        var planner = new OnePassPlanner(rules);
        var fastTaken = 0;
        for (var n = 0; n < 3000; n++)
        {
            var keyColumns = random.Next(1, 4);
            var otherColumns = random.Next(1, 9);
            var key = new List<(string Name, string Json)>();
            for (var k = 0; k < keyColumns; k++)
            {
                key.Add(($"k{k}", random.Next(2) == 0 ? random.Next(1, 1_000_000).ToString(CultureInfo.InvariantCulture) : $"\"id-{random.Next()}\""));
            }

            var others = new List<(string Name, string Json)>();
            for (var c = 0; c < otherColumns; c++)
            {
                others.Add(($"c{c}", defaults[random.Next(defaults.Length)]));
            }

            // The key's columns anywhere among the others, as real tables order them.
            var columns = others.Concat(key).OrderBy(_ => random.Next()).ToList();
            var keyJson = Object(key.OrderBy(_ => random.Next()));

            var suspect = Decode(keyJson, Delete(Object(columns)), rules);
            Assert.True(suspect.SuspectDefaultIdentity, Object(columns));
            Assert.False(planner.TryPlan(Topic, Encoding.UTF8.GetBytes(keyJson), Encoding.UTF8.GetBytes(Delete(Object(columns))), new InvalidationBatch(), out _));

            // One value that is no type default, or several.
            var changed = random.Next(1, otherColumns + 1);
            foreach (var index in Enumerable.Range(0, otherColumns).OrderBy(_ => random.Next()).Take(changed))
            {
                var name = $"c{index}";
                columns[columns.FindIndex(c => c.Name == name)] = (name, values[random.Next(values.Length)]);
            }

            var value = Delete(Object(columns));
            Assert.False(Decode(keyJson, value, rules).SuspectDefaultIdentity, Object(columns));
            if (planner.TryPlan(Topic, Encoding.UTF8.GetBytes(keyJson), Encoding.UTF8.GetBytes(value), new InvalidationBatch(), out var plan))
            {
                fastTaken++;
                Assert.Equal(PlanOutcome.Invalidate, plan.Outcome);
            }
        }

        // Most ordinary deletes keep the one-pass path (those with no more plain values than key columns may not).
        Assert.InRange(fastTaken, 1500, 3000);
    }

    [Theory]
    [InlineData("", true)]
    [InlineData("false", true)]
    [InlineData("0", true)]
    [InlineData("-0.000", true)]
    [InlineData("0e5", true)]
    [InlineData("1970-01-01", true)]
    [InlineData("1970-01-01T00:00:00.000000Z", true)]
    [InlineData("00:00:00.000+00:00", true)]
    [InlineData("0.01", false)]
    [InlineData("0e", false)]
    [InlineData("1970-01-01T00:00:01Z", false)]
    [InlineData("false ", false)]
    [InlineData("0x", false)]
    [InlineData("{}", false)]
    public void Type_defaults_are_the_zeros_of_debezium_s_placeholders(string text, bool isDefault) =>
        Assert.Equal(isDefault, DefaultIdentityShape.IsTypeDefault(ColumnValue.Of(text)));

    [Fact]
    public void Values_debezium_did_not_fill_in_are_no_type_defaults()
    {
        Assert.True(DefaultIdentityShape.IsTypeDefault(ColumnValue.Null));
        Assert.False(DefaultIdentityShape.IsTypeDefault(ColumnValue.Unavailable));
        Assert.False(DefaultIdentityShape.IsTypeDefault(ColumnValue.Untrusted));
        Assert.False(DefaultIdentityShape.IsTypeDefault(ColumnValue.UndecodableOf("AA==")));
    }

    private static string Object(IEnumerable<(string Name, string Json)> columns) =>
        "{" + string.Join(",", columns.Select(c => $"\"{c.Name}\":{c.Json}")) + "}";
}
