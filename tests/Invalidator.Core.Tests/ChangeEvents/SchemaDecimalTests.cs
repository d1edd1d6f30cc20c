using System.Globalization;
using System.Numerics;
using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.ChangeEvents;

/// <summary>
/// A column the value schema declares <c>org.apache.kafka.connect.data.Decimal</c> renders with its scale when its value
/// is base64 (JsonConverter's default) or a JSON number that is exact at that scale (<c>decimal.format=NUMERIC</c>).
/// Anything else has no faithful rendering: the record is undecodable (dead-lettered with the reason), never a key the
/// application does not write. The worker's one-pass path agrees, whether the rule uses the column or not.
/// </summary>
public class SchemaDecimalTests
{
    private const string Topic = "s.public.t";

    private static readonly RuleSet UsesPrice = RulesLoader.Parse("tables:\n  public.t:\n    keys: [\"p:{price}\", \"t:{id}\"]\n", "rules.yaml");

    private static readonly RuleSet IgnoresPrice = RulesLoader.Parse("tables:\n  public.t:\n    keys: [\"t:{id}\"]\n", "rules.yaml");

    private static string Value(string price, int scale = 2) => $$$"""
        {"schema":{"type":"struct","fields":[
            {"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"{{{scale}}}"},"field":"price"}],"optional":true,"field":"before"},
            {"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"{{{scale}}}"},"field":"price"}],"optional":true,"field":"after"},
            {"type":"string","optional":false,"field":"op"}],"optional":false,"name":"s.public.t.Envelope"},
         "payload":{"before":null,"after":{"id":1,"price":{{{price}}}},"source":{"schema":"public","table":"t"},"op":"c"}}
        """;

    private static ColumnValue Price(string value, RuleSet rules) =>
        new DebeziumDecoder().Decode(Topic, [], Encoding.UTF8.GetBytes(value), rules.DecoderHints).Change!.After!.Columns["price"];

    [Theory]
    [InlineData("\"AdUL\"", "1200.75")]
    [InlineData("12.5", "12.50")]
    [InlineData("12.50", "12.50")]
    [InlineData("1250", "1250.00")]
    [InlineData("1.2E+3", "1200.00")]
    [InlineData("1.2500E1", "12.50")]
    [InlineData("125000E-4", "12.50")]
    [InlineData("-0.5", "-0.50")]
    [InlineData("0", "0.00")]
    [InlineData("-0.00", "0.00")]
    public void A_base64_or_exact_number_renders_with_the_column_s_scale(string json, string expected)
    {
        Assert.Equal(ColumnValue.Of(expected), Price(Value(json), UsesPrice));
        AssertOnePassPathAgrees(Value(json), UsesPrice, $"p:{expected}");
    }

    [Theory]
    [InlineData("null", ColumnValueKind.Null)]
    [InlineData("\"__debezium_unavailable_value\"", ColumnValueKind.Unavailable)]
    public void Null_and_debezium_s_placeholder_keep_their_kind(string json, ColumnValueKind kind) =>
        Assert.Equal(kind, Price(Value(json), UsesPrice).Kind);

    [Theory]
    [InlineData("12.345", "more digits after the point")]
    [InlineData("0.001", "more digits after the point")]
    [InlineData("1E-3", "more digits after the point")]
    [InlineData("1E2000", "out of range")]
    [InlineData("1E99999999999", "out of range")]
    [InlineData("true", "JSON boolean, not base64")]
    [InlineData("false", "JSON boolean, not base64")]
    [InlineData("{\"scale\":2,\"value\":\"AdUL\"}", "JSON object, not base64")]
    [InlineData("[1]", "JSON array, not base64")]
    [InlineData("\"12.50\"", "not base64")]
    [InlineData("\" AdUL \"", "not base64")]
    [InlineData("\"AdUL\\n\"", "not base64")]
    [InlineData("\"\"", "not base64")]
    public void Any_other_value_makes_the_record_undecodable_with_the_reason(string json, string reason)
    {
        foreach (var rules in new[] { UsesPrice, IgnoresPrice })
        {
            var error = Assert.Throws<ChangeEventFormatException>(() => Price(Value(json), rules));
            Assert.Contains("'price'", error.Message, StringComparison.Ordinal);
            Assert.Contains(reason, error.Message, StringComparison.Ordinal);

            // The one-pass path never plans it: the full decode dead-letters it.
            var batch = new InvalidationBatch();
            Assert.False(new OnePassPlanner(rules).TryPlan(Topic, [], Encoding.UTF8.GetBytes(Value(json)), batch, out _));
            Assert.True(batch.IsEmpty);
        }
    }

    [Fact]
    public void Generated_decimals_render_their_exact_value_or_nothing()
    {
        // Never: a key from a decimal the scale cannot hold exactly. Always: every exact spelling of one value gives one key.
        var random = new Random(2024);
        for (var n = 0; n < 3000; n++)
        {
            var scale = random.Next(0, 7);
            var unscaled = RandomInteger(random, random.Next(1, 30));
            var expected = Expected(unscaled, scale);

            // Base64 of the two's-complement big-endian unscaled value, as JsonConverter writes it.
            var base64 = Convert.ToBase64String(unscaled.ToByteArray(isUnsigned: false, isBigEndian: true));
            Assert.Equal(ColumnValue.Of(expected), Price(Value($"\"{base64}\"", scale), UsesPrice));

            // decimal.format=NUMERIC, spelt with the scale's digits, extra zeros, or an exponent.
            foreach (var number in Spellings(random, unscaled, scale))
            {
                Assert.Equal(ColumnValue.Of(expected), Price(Value(number, scale), UsesPrice));
                AssertOnePassPathAgrees(Value(number, scale), UsesPrice, $"p:{expected}");
            }

            // One more significant digit after the point than the scale holds: no key.
            var tooPrecise = Expected(unscaled * 10 + random.Next(1, 10), scale + 1);
            Assert.Throws<ChangeEventFormatException>(() => Price(Value(tooPrecise, scale), UsesPrice));
            Assert.False(new OnePassPlanner(UsesPrice).TryPlan(Topic, [], Encoding.UTF8.GetBytes(Value(tooPrecise, scale)), new InvalidationBatch(), out _));
        }
    }

    private static IEnumerable<string> Spellings(Random random, BigInteger unscaled, int scale)
    {
        var plain = Expected(unscaled, scale);
        yield return plain;
        yield return scale == 0 ? plain + "." + new string('0', random.Next(1, 4)) : plain + new string('0', random.Next(1, 4));
        var sign = unscaled.Sign < 0 ? "-" : "";
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture);
        yield return $"{sign}{digits}E-{scale}";
        if (!unscaled.IsZero)
        {
            yield return $"{sign}{digits}0e{-scale - 1}";
        }

        if (digits.Length > 1)
        {
            yield return $"{sign}{digits[0]}.{digits[1..]}E{digits.Length - 1 - scale}";
        }
    }

    private static string Expected(BigInteger unscaled, int scale)
    {
        var digits = BigInteger.Abs(unscaled).ToString(CultureInfo.InvariantCulture).PadLeft(scale + 1, '0');
        var sign = unscaled.Sign < 0 ? "-" : "";
        return scale == 0 ? sign + digits : $"{sign}{digits[..^scale]}.{digits[^scale..]}";
    }

    private static BigInteger RandomInteger(Random random, int digits)
    {
        var text = new StringBuilder();
        for (var i = 0; i < digits; i++)
        {
            text.Append((char)('0' + random.Next(10)));
        }

        var value = BigInteger.Parse(text.ToString(), CultureInfo.InvariantCulture);
        return random.Next(2) == 0 ? -value : value;
    }

    private static void AssertOnePassPathAgrees(string value, RuleSet rules, string key)
    {
        var batch = new InvalidationBatch();
        Assert.True(new OnePassPlanner(rules).TryPlan(Topic, [], Encoding.UTF8.GetBytes(value), batch, out _));
        Assert.Contains(key, batch.Keys);
    }
}
