using System.Text;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Planning;

public class RulesDiffTests
{
    private const string OldRules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email}"]
            tags: ["tenant:{tenant_id}"]
          public.orders:
            keys: ["order:{id}"]
        """;

    private const string NewRules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
            tags: ["tenant:{tenant_id}", "team:{team_id}"]
          public.orders:
            keys: ["order:{id}"]
        """;

    private static readonly RulesDiff Diff = new(RulesLoader.Parse(OldRules, "old.yaml"), RulesLoader.Parse(NewRules, "new.yaml"));

    private static RecordDifference Compare(string topic, string? key, string? value) =>
        Diff.Compare(topic, key is null ? [] : Encoding.UTF8.GetBytes(key), value is null ? [] : Encoding.UTF8.GetBytes(value));

    private static string Envelope(string table, string op, string? before, string? after) =>
        $$$"""{"op":"{{{op}}}","before":{{{before ?? "null"}}},"after":{{{after ?? "null"}}},"source":{"schema":"public","table":"{{{table}}}"}}""";

    [Fact]
    public void Shows_the_keys_and_tags_that_appear_and_vanish()
    {
        var difference = Compare("db.public.customers", null,
            Envelope("customers", "u", null, """{"id":7,"email":"Ann@X.com","tenant_id":3,"team_id":9}"""));

        Assert.True(difference.Differs);
        Assert.Equal("public.customers", difference.Table);
        Assert.Equal(["customer:email:ann@x.com"], difference.KeysAppearing);
        Assert.Equal(["customer:email:Ann@X.com"], difference.KeysVanishing);
        Assert.Equal(["team:9"], difference.TagsAppearing);
        Assert.Empty(difference.TagsVanishing);
        Assert.Contains("customer:7", difference.Old.Keys);
        Assert.Contains("customer:7", difference.New.Keys);
    }

    [Fact]
    public void A_record_both_files_treat_alike_does_not_differ()
    {
        var difference = Compare("db.public.orders", null, Envelope("orders", "c", null, """{"id":1}"""));

        Assert.False(difference.Differs);
        Assert.Equal(["order:1"], difference.New.Keys);
        Assert.Equal("Invalidate", difference.New.Outcome);
    }

    [Fact]
    public void A_record_that_becomes_a_dead_letter_differs_even_without_keys()
    {
        var envelopeRules = RulesLoader.Parse("tables:\n  public.notes:\n    keys: [\"note:{id}\"]\n    format: envelope\n", "new.yaml");
        var diff = new RulesDiff(RulesLoader.Parse("tables:\n  public.other:\n    keys: [\"x:{id}\"]\n", "old.yaml"), envelopeRules);

        // An unwrapped row on a topic the new rules say carries envelopes only.
        var difference = diff.Compare("db.public.notes", [], Encoding.UTF8.GetBytes("""{"id":1,"__op":"u"}"""));

        Assert.True(difference.Differs);
        Assert.True(difference.PoisonChanged);
        Assert.Null(difference.Old.Poison);
        Assert.Equal("NoRule", difference.Old.Outcome);
        Assert.Equal(RecordInvalidations.PoisonOutcome, difference.New.Outcome);
        Assert.NotNull(difference.New.Poison);
    }

    [Fact]
    public void Records_that_are_no_change_are_compared_too()
    {
        var difference = Compare("__debezium-heartbeat.db", """{"serverName":"db"}""", """{"ts_ms":1}""");

        Assert.False(difference.Differs);
        Assert.Null(difference.Table);
        Assert.Equal("Heartbeat", difference.Old.Outcome);
    }

    [Fact]
    public void The_summary_adds_up_per_table()
    {
        var summary = new RulesDiffSummary();
        summary.Add("db.public.customers", Compare("db.public.customers", null, Envelope("customers", "c", null, """{"id":1,"email":"A@x","tenant_id":1,"team_id":1}""")));
        summary.Add("db.public.customers", Compare("db.public.customers", null, Envelope("customers", "c", null, """{"id":2,"email":"b@x","tenant_id":1}""")));
        summary.Add("db.public.orders", Compare("db.public.orders", null, Envelope("orders", "c", null, """{"id":1}""")));
        summary.Add("__debezium-heartbeat.db", Compare("__debezium-heartbeat.db", """{"serverName":"db"}""", """{"ts_ms":1}"""));

        Assert.Equal((4, 1), (summary.Records, summary.Differing));
        Assert.Equal(
            [
                new TableDiffSummary("(topic __debezium-heartbeat.db)", 1, 0, 0, 0, 0, 0),
                new TableDiffSummary("public.customers", 2, 1, 1, 1, 1, 0),
                new TableDiffSummary("public.orders", 1, 0, 0, 0, 0, 0),
            ],
            summary.Tables);
    }
}
