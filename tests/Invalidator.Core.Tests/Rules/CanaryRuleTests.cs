using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Rules;

/// <summary>The canary table's built-in rule: added to any rules file, refused beside a rule of the file's own.</summary>
public sealed class CanaryRuleTests
{
    private const string Rules = "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n";

    [Fact]
    public void The_rule_names_the_canary_from_worker_and_seq_on_inserts_and_updates()
    {
        var rules = CanaryRule.AddTo(RulesLoader.Parse(Rules, "rules.yaml"), CanaryRule.DefaultTable);
        var rule = rules.Tables[CanaryRule.DefaultTable];

        Assert.True(rule.BuiltIn);
        Assert.False(rules.Tables["public.customers"].BuiltIn);
        Assert.Equal("invalidator:canary:{worker}:{seq}", Assert.Single(rule.Keys).Text);
        Assert.Equal("invalidator:canary:w-1:42", CanaryRule.NameOf("w-1", 42));
        Assert.Equal(
            new HashSet<ChangeOperation> { ChangeOperation.Create, ChangeOperation.Update },
            rule.Ops.ToHashSet());
    }

    [Fact]
    public void A_file_with_its_own_rule_for_the_canary_table_is_refused_at_that_line()
    {
        var file = Rules + "  public.invalidator_canary:\n    keys: [\"x:{worker}\"]\n";

        var error = Assert.Single(Assert.Throws<RulesException>(() => CanaryRule.AddTo(RulesLoader.Parse(file, "rules.yaml"), CanaryRule.DefaultTable)).Errors);

        Assert.Equal(4, error.Line);
        Assert.Contains("whose rule is built in", error.Message, StringComparison.Ordinal);
        // Control: another canary table leaves the file's rule for that one alone.
        Assert.False(CanaryRule.AddTo(RulesLoader.Parse(file, "rules.yaml"), "ops.canary").Tables["public.invalidator_canary"].BuiltIn);
    }
}
