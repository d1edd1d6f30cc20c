using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Rules;

/// <summary>The rule fields that tell the decoder about a table: <c>decimals</c>, <c>replicaIdentity</c>, <c>format</c>.</summary>
public class DecodingFieldsTests
{
    private const string File = "rules.yaml";

    private static string Yaml(params string[] lines) => string.Join('\n', lines) + "\n";

    private static RuleError SingleError(params string[] lines)
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse(Yaml(lines), File));
        return Assert.Single(ex.Errors);
    }

    private static void AssertError(RuleError error, int line, int column, params string[] fragments)
    {
        Assert.True(line == error.Line && column == error.Column, $"expected {line}:{column}, got {error}");
        foreach (var fragment in fragments)
        {
            Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Loads_the_fields_and_hands_them_to_the_decoder()
    {
        var rules = RulesLoader.Parse(Yaml(
            "tables:",
            "  billing.invoices:",
            "    keys: [\"invoice:{number}:{total}\"]",
            "    decimals: [total, tax]",
            "    replicaIdentity: default",
            "    format: unwrapped",
            "  billing.ledger:",
            "    keys: [\"ledger:{id}\"]",
            "    replicaIdentity: full",
            "    format: envelope",
            "  billing.notes:",
            "    keys: [\"note:{id}\"]",
            "    format: auto"), File);

        var invoices = rules.Tables["billing.invoices"];
        Assert.Equal(["total", "tax"], invoices.Decimals);
        Assert.Equal(ReplicaIdentity.Default, invoices.ReplicaIdentity);
        Assert.Equal(RecordFormat.Unwrapped, invoices.Format);
        Assert.Equal((ReplicaIdentity.Full, RecordFormat.Envelope), (rules.Tables["billing.ledger"].ReplicaIdentity, rules.Tables["billing.ledger"].Format));
        Assert.Equal(RecordFormat.Auto, rules.Tables["billing.notes"].Format);

        var hints = rules.DecoderHints.For("billing.invoices")!;
        Assert.Equal(new HashSet<string> { "total", "tax" }, hints.Decimals);
        Assert.Equal((ReplicaIdentity.Default, RecordFormat.Unwrapped), (hints.ReplicaIdentity, hints.Format));
        Assert.True(rules.DecoderHints.HasRule("billing.notes"));
        Assert.False(rules.DecoderHints.HasRule("billing.payments"));
        Assert.Null(rules.DecoderHints.For("billing.payments"));
    }

    [Fact]
    public void Defaults_are_no_decimals_full_identity_and_automatic_format()
    {
        var rule = RulesLoader.Parse(Yaml("tables:", "  billing.ledger:", "    keys: [\"ledger:{id}\"]"), File).Tables["billing.ledger"];

        Assert.Empty(rule.Decimals);
        Assert.Equal(ReplicaIdentity.Full, rule.ReplicaIdentity);
        Assert.Equal(RecordFormat.Auto, rule.Format);
    }

    [Theory]
    [InlineData("replicaIdentity: DEFAULT", 4, 22, "unknown replicaIdentity 'DEFAULT'", "did you mean 'default'?", "'full' or 'default'")]
    [InlineData("replicaIdentity: nothing", 4, 22, "unknown replicaIdentity 'nothing'", "'full' or 'default'", "spelt exactly")]
    [InlineData("replicaIdentity: [default]", 4, 22, "'replicaIdentity' of table 'billing.ledger' must be 'full' or 'default'", "a list")]
    [InlineData("replicaIdentity:", 4, 5, "'replicaIdentity' of table 'billing.ledger' must be", "empty")]
    [InlineData("format: wrapped", 4, 13, "unknown format 'wrapped'", "'auto', 'envelope' or 'unwrapped'")]
    [InlineData("format: Envelope", 4, 13, "unknown format 'Envelope'", "did you mean 'envelope'?")]
    [InlineData("format: { kind: envelope }", 4, 13, "'format' of table 'billing.ledger' must be", "a mapping")]
    [InlineData("decimals: total", 4, 15, "'decimals' of table 'billing.ledger' must be a list", "decimals: [\"total\"]")]
    [InlineData("decimals: []", 4, 15, "'decimals' of table 'billing.ledger' is empty", "remove 'decimals'")]
    [InlineData("decimals: [\"{total}\"]", 4, 17, "'{total}' in 'decimals' of table 'billing.ledger' is not a column name")]
    [InlineData("decimals: [total, total]", 4, 23, "'total' is listed twice in 'decimals'")]
    [InlineData("decimal: [total]", 4, 5, "unknown field 'decimal'", "did you mean 'decimals'?")]
    [InlineData("replicaidentity: default", 4, 5, "unknown field 'replicaidentity'", "did you mean 'replicaIdentity'?")]
    public void Bad_values_point_at_the_line_and_column_and_say_what_is_allowed(string field, int line, int column, params string[] fragments)
    {
        var error = SingleError("tables:", "  billing.ledger:", "    keys: [\"ledger:{id}\"]", "    " + field);

        AssertError(error, line, column, fragments);
    }
}
