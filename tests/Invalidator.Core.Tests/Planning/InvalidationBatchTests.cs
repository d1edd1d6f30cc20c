using Invalidator.Core.Planning;

namespace Invalidator.Core.Tests.Planning;

public class InvalidationBatchTests
{
    [Fact]
    public void Keys_and_tags_are_deduplicated_across_plans()
    {
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["customer:1", "customer:email:a"], ["tenant:1"], []));
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["customer:1", "customer:email:b"], ["tenant:1"], []));
        batch.Add(InvalidationPlan.NoRule);

        Assert.Equal(new[] { "customer:1", "customer:email:a", "customer:email:b" }, batch.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["tenant:1"], batch.Tags);
        Assert.Equal(3, batch.PlanCount);
        Assert.Equal(6, batch.NamesBeforeDeduplication);
    }

    [Fact]
    public void Clear_empties_the_batch()
    {
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["k"], ["t"], []));
        Assert.False(batch.IsEmpty);

        batch.Clear();

        Assert.True(batch.IsEmpty);
        Assert.Equal(0, batch.PlanCount);
    }

    [Fact]
    public void Names_planned_by_a_lease_rule_are_marked_even_when_another_rule_planned_them_too()
    {
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["customer:1", "shared"], ["tenant:1"], []) { Leases = true });
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["order:9", "shared"], ["tenant:2"], []));

        Assert.Equal(new[] { "customer:1", "order:9", "shared" }, batch.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new[] { "customer:1", "shared" }, batch.LeaseKeys.Order(StringComparer.Ordinal));
        Assert.Equal(["tenant:1"], batch.LeaseTags);

        batch.Clear();
        Assert.Empty(batch.LeaseKeys);
        Assert.Empty(batch.LeaseTags);
    }
}
