using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Planning;

public class InvalidationPlannerTests
{
    private const string Rules = """
        tables:
          public.customers:
            keys:
              - "customer:{id}"
              - "customer:email:{email|lower}"
            tags: ["tenant:{tenant_id}"]
            changed: [email, name]
            truncate:
              keys: ["customers:all"]
              tags: ["customers"]
          public.orders:
            keys: ["order:{id}", "customer:{customer_id}:orders"]
            ops: [c, u, d, r]
          public.notes:
            keys: ["note:{id}"]
        """;

    private static readonly InvalidationPlanner Planner = new(RulesLoader.Parse(Rules, "rules.yaml"));

    private static RowImage Row(params (string Column, string? Value)[] columns) =>
        new(columns.Select(c => KeyValuePair.Create(c.Column, c.Value is null ? ColumnValue.Null : ColumnValue.Of(c.Value))));

    private static ChangeEvent Change(string table, ChangeOperation op, RowImage? before, RowImage? after, RowImage? key = null) =>
        new(table, op, before, after, key, null);

    [Fact]
    public void A_plan_carries_its_rules_leases_setting_also_for_a_truncate()
    {
        var planner = new InvalidationPlanner(RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                truncate: ["customers:all"]
                leases: true
              public.notes:
                keys: ["note:{id}"]
            """, "rules.yaml"));

        var update = planner.Plan(Change("public.customers", ChangeOperation.Update, null, Row(("id", "7"))));
        var truncate = planner.Plan(Change("public.customers", ChangeOperation.Truncate, null, null));
        var other = planner.Plan(Change("public.notes", ChangeOperation.Update, null, Row(("id", "7"))));

        Assert.True(update.Leases);
        Assert.Equal(["customer:7"], update.Keys);
        Assert.True(truncate.Leases);
        Assert.False(other.Leases);
    }

    [Fact]
    public void A_plan_carries_its_rules_second_delete_also_for_a_truncate()
    {
        var planner = new InvalidationPlanner(RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                truncate: ["customers:all"]
                secondDelete: 800ms
              public.notes:
                keys: ["note:{id}"]
            """, "rules.yaml"));

        var update = planner.Plan(Change("public.customers", ChangeOperation.Update, null, Row(("id", "7"))));
        var truncate = planner.Plan(Change("public.customers", ChangeOperation.Truncate, null, null));
        var other = planner.Plan(Change("public.notes", ChangeOperation.Update, null, Row(("id", "7"))));

        Assert.Equal(TimeSpan.FromMilliseconds(800), update.SecondDelete);
        Assert.Equal(TimeSpan.FromMilliseconds(800), truncate.SecondDelete);
        Assert.Null(other.SecondDelete);
    }

    [Fact]
    public void Email_change_invalidates_the_old_and_the_new_email_key()
    {
        var plan = Planner.Plan(Change(
            "public.customers",
            ChangeOperation.Update,
            Row(("id", "7"), ("email", "Old@Example.com"), ("name", "A"), ("tenant_id", "3")),
            Row(("id", "7"), ("email", "new@example.com"), ("name", "A"), ("tenant_id", "3"))));

        Assert.Equal(PlanOutcome.Invalidate, plan.Outcome);
        Assert.Equal(
            new[] { "customer:7", "customer:email:new@example.com", "customer:email:old@example.com" },
            plan.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(["tenant:3"], plan.Tags);
        Assert.Empty(plan.Unresolved);
    }

    [Fact]
    public void Keys_are_the_union_of_both_images_without_duplicates()
    {
        var plan = Planner.Plan(Change(
            "public.customers",
            ChangeOperation.Update,
            Row(("id", "7"), ("email", "old@example.com"), ("name", "A"), ("tenant_id", "3")),
            Row(("id", "7"), ("email", "new@example.com"), ("name", "A"), ("tenant_id", "4"))));

        Assert.Equal(
            new[] { "customer:7", "customer:email:new@example.com", "customer:email:old@example.com" },
            plan.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(new[] { "tenant:3", "tenant:4" }, plan.Tags.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Update_that_changes_no_watched_column_invalidates_nothing()
    {
        var plan = Planner.Plan(Change(
            "public.customers",
            ChangeOperation.Update,
            Row(("id", "7"), ("email", "a@b.c"), ("name", "A"), ("tenant_id", "3"), ("visits", "1")),
            Row(("id", "7"), ("email", "a@b.c"), ("name", "A"), ("tenant_id", "3"), ("visits", "2"))));

        Assert.Equal(PlanOutcome.Unchanged, plan.Outcome);
        Assert.True(plan.IsEmpty);
    }

    [Fact]
    public void Update_without_a_before_image_invalidates_on_the_safe_side()
    {
        var plan = Planner.Plan(Change(
            "public.customers", ChangeOperation.Update, null, Row(("id", "7"), ("email", "a@b.c"), ("name", "A"), ("tenant_id", "3"))));

        Assert.Equal(PlanOutcome.Invalidate, plan.Outcome);
        Assert.Contains("customer:7", plan.Keys);
    }

    [Fact]
    public void Before_image_lacking_a_watched_column_counts_as_changed()
    {
        var plan = Planner.Plan(Change(
            "public.customers", ChangeOperation.Update, Row(("id", "7")), Row(("id", "7"), ("email", "a@b.c"), ("name", "A"), ("tenant_id", "3"))));

        Assert.Equal(PlanOutcome.Invalidate, plan.Outcome);
    }

    [Fact]
    public void Unchanged_toast_value_in_the_after_image_is_not_a_change_and_is_never_rendered()
    {
        var before = new RowImage([
            KeyValuePair.Create("id", ColumnValue.Of("7")), KeyValuePair.Create("email", ColumnValue.Of("a@b.c")),
            KeyValuePair.Create("name", ColumnValue.Of("A")), KeyValuePair.Create("tenant_id", ColumnValue.Of("3"))]);
        var after = new RowImage([
            KeyValuePair.Create("id", ColumnValue.Of("7")), KeyValuePair.Create("email", ColumnValue.Unavailable),
            KeyValuePair.Create("name", ColumnValue.Of("B")), KeyValuePair.Create("tenant_id", ColumnValue.Of("3"))]);

        var plan = Planner.Plan(Change("public.customers", ChangeOperation.Update, before, after));

        Assert.Equal(PlanOutcome.Invalidate, plan.Outcome);
        Assert.Equal(new[] { "customer:7", "customer:email:a@b.c" }, plan.Keys.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(plan.Keys, k => k.Contains("__debezium", StringComparison.Ordinal));
        var unresolved = Assert.Single(plan.Unresolved);
        Assert.Equal(("after", "email", RenderFailure.UnavailableColumn), (unresolved.Image, unresolved.Column, unresolved.Failure));
    }

    [Fact]
    public void Delete_with_only_the_primary_key_renders_what_it_can_and_reports_the_rest()
    {
        var plan = Planner.Plan(Change("public.customers", ChangeOperation.Delete, Row(("id", "7")), null));

        Assert.Equal(["customer:7"], plan.Keys);
        Assert.Empty(plan.Tags);
        Assert.Contains(plan.Unresolved, u => u.Column == "email" && u.Failure == RenderFailure.MissingColumn && u.Image == "before");
        Assert.Contains(plan.Unresolved, u => u.Column == "tenant_id");
    }

    [Fact]
    public void Delete_without_any_row_image_falls_back_to_the_record_key()
    {
        var plan = Planner.Plan(Change("public.orders", ChangeOperation.Delete, null, null, key: Row(("id", "42"))));

        Assert.Equal(["order:42"], plan.Keys);
    }

    [Fact]
    public void The_record_key_is_not_used_when_a_row_image_rendered()
    {
        var plan = Planner.Plan(Change(
            "public.notes", ChangeOperation.Update, null, Row(("id", "1")), key: Row(("id", "999"))));

        Assert.Equal(["note:1"], plan.Keys);
    }

    [Fact]
    public void Null_column_skips_the_template_instead_of_rendering_a_blank()
    {
        var plan = Planner.Plan(Change(
            "public.orders", ChangeOperation.Create, null, Row(("id", "5"), ("customer_id", null))));

        Assert.Equal(["order:5"], plan.Keys);
        var unresolved = Assert.Single(plan.Unresolved);
        Assert.Equal(RenderFailure.NullColumn, unresolved.Failure);
        Assert.Equal("customer:{customer_id}:orders", unresolved.Template);
    }

    [Fact]
    public void Snapshot_reads_are_ignored_unless_the_rule_lists_r()
    {
        Assert.Equal(PlanOutcome.OperationIgnored, Planner.Plan(Change("public.notes", ChangeOperation.Read, null, Row(("id", "1")))).Outcome);
        Assert.Equal(["order:1"], Planner.Plan(Change("public.orders", ChangeOperation.Read, null, Row(("id", "1"), ("customer_id", null)))).Keys);
    }

    [Fact]
    public void Truncate_invalidates_the_static_truncate_keys_and_tags()
    {
        var plan = Planner.Plan(Change("public.customers", ChangeOperation.Truncate, null, null));

        Assert.Equal(["customers:all"], plan.Keys);
        Assert.Equal(["customers"], plan.Tags);
        Assert.Equal(PlanOutcome.OperationIgnored, Planner.Plan(Change("public.notes", ChangeOperation.Truncate, null, null)).Outcome);
    }

    [Fact]
    public void Tables_without_a_rule_invalidate_nothing()
    {
        Assert.Equal(PlanOutcome.NoRule, Planner.Plan(Change("public.audit", ChangeOperation.Create, null, Row(("id", "1")))).Outcome);
    }
}
