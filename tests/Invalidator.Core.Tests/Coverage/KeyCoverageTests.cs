using Invalidator.Core.Coverage;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Coverage;

public class KeyCoverageTests
{
    private static readonly KeyCoverage Coverage = new(RulesLoader.Parse("""
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}", "customers:count"]
            tags: ["tenant:{tenant_id}"]
            truncate:
              keys: ["customers:all"]
              tags: ["customers"]
          public.orders:
            keys: ["order:{id}", "customer:{customer_id}:orders"]
        """, "rules.yaml"));

    [Theory]
    [InlineData("customer:7", "customer:{id}")]
    [InlineData("customer:email:ann@example.com", "customer:email:{email|lower}")]
    [InlineData("customers:count", "customers:count")]
    [InlineData("customers:all", "truncate of public.customers")]
    [InlineData("customer:7:orders", "customer:{customer_id}:orders")]
    [InlineData("order:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "order:{id}")]
    public void Names_the_rule_that_covers_a_key(string key, string rule) => Assert.Equal(rule, Coverage.KeyCoveredBy(key));

    [Theory]
    [InlineData("session:17")]
    [InlineData("customer:")]
    [InlineData("orders:7")]
    [InlineData("tenant:3")] // a tag name is not a key
    public void A_key_no_rule_renders_is_not_covered(string key) => Assert.Null(Coverage.KeyCoveredBy(key));

    [Theory]
    [InlineData("tenant:3", "tenant:{tenant_id}")]
    [InlineData("customers", "truncate of public.customers")]
    public void Names_the_rule_that_covers_a_tag(string tag, string rule) => Assert.Equal(rule, Coverage.TagCoveredBy(tag));

    [Theory]
    [InlineData("team:3")]
    [InlineData("customer:7")]
    public void A_tag_no_rule_renders_is_not_covered(string tag) => Assert.Null(Coverage.TagCoveredBy(tag));
}
