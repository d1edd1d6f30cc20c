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

    [Fact]
    public void Names_of_rules_with_their_own_second_delete_are_kept_by_delay()
    {
        var batch = new InvalidationBatch();
        var fast = TimeSpan.FromMilliseconds(250);
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["customer:1", "shared"], ["tenant:1"], []) { SecondDelete = fast });
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["customer:2"], [], []) { SecondDelete = fast });
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["order:9", "shared"], [], []) { SecondDelete = TimeSpan.FromSeconds(2) });
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["note:1"], [], []) { SecondDelete = TimeSpan.Zero });
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["plain"], [], []));
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, [], [], []) { SecondDelete = TimeSpan.FromSeconds(9) });

        Assert.Equal([TimeSpan.Zero, fast, TimeSpan.FromSeconds(2)], batch.SecondDeletes.Keys.Order());
        Assert.Equal(["customer:1", "customer:2", "shared"], batch.SecondDeletes[fast].Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["tenant:1"], batch.SecondDeletes[fast].Tags);
        Assert.Equal(4, batch.SecondDeletes[fast].Count);
        Assert.Equal(["order:9", "shared"], batch.SecondDeletes[TimeSpan.FromSeconds(2)].Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["note:1"], batch.SecondDeletes[TimeSpan.Zero].Keys);
        Assert.Equal(6, batch.Keys.Count);

        batch.Clear();
        Assert.Empty(batch.SecondDeletes);
    }

    [Fact]
    public void A_batch_without_second_delete_rules_keeps_no_groups()
    {
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["k"], ["t"], []));

        Assert.Empty(batch.SecondDeletes);
    }
}
