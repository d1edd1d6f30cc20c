using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Planning;

/// <summary>A template that no image renders is never silent: each one is reported with why, and what fixes it.</summary>
public class UnresolvedTemplateTests
{
    private const string Rules = """
        tables:
          library.loans:
            keys: ["loan:{loan_id}", "reader:{reader_id}:loans", "loans:all"]
            tags: ["branch:{branch}"]
            changed: [due_on, branch]
        """;

    private static readonly InvalidationPlanner Planner = new(RulesLoader.Parse(Rules, "rules.yaml"));

    private static ChangeEvent Delete(RowImage? before, RowImage? key) => new("library.loans", ChangeOperation.Delete, before, null, key, null);

    private static RowImage Row(params (string Column, ColumnValue Value)[] columns) =>
        new(columns.Select(c => KeyValuePair.Create(c.Column, c.Value)));

    [Fact]
    public void A_delete_with_no_image_at_all_reports_every_template_and_still_deletes_the_static_key()
    {
        var plan = Planner.Plan(Delete(null, null));

        Assert.Equal(["loans:all"], plan.Keys);
        Assert.Empty(plan.Tags);
        Assert.Equal(
            [("branch:{branch}", "branch"), ("loan:{loan_id}", "loan_id"), ("reader:{reader_id}:loans", "reader_id")],
            plan.Unresolved.Select(u => (u.Template, u.Column)).Order());
        Assert.All(plan.Unresolved, u =>
        {
            Assert.Equal(("none", RenderFailure.NoImage, "library.loans"), (u.Image, u.Failure, u.Table));
            Assert.Contains("no row image and no record key", u.Reason, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Without_row_images_the_key_images_failures_are_the_report()
    {
        var plan = Planner.Plan(Delete(null, Row(("loan_id", ColumnValue.Of("77")))));

        Assert.Equal(["loan:77", "loans:all"], plan.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(
            [("branch:{branch}", "key", RenderFailure.MissingColumn), ("reader:{reader_id}:loans", "key", RenderFailure.MissingColumn)],
            plan.Unresolved.Select(u => (u.Template, u.Image, u.Failure)).Order());
    }

    [Fact]
    public void With_a_row_image_its_failure_is_reported_once_not_again_for_the_key()
    {
        var plan = Planner.Plan(Delete(Row(("loan_id", ColumnValue.Of("78")), ("reader_id", ColumnValue.Null), ("branch", ColumnValue.Of("east"))),
            Row(("loan_id", ColumnValue.Of("78")))));

        Assert.Equal(["loan:78", "loans:all"], plan.Keys.Order(StringComparer.Ordinal));
        var unresolved = Assert.Single(plan.Unresolved);
        Assert.Equal(("reader:{reader_id}:loans", "before", RenderFailure.NullColumn), (unresolved.Template, unresolved.Image, unresolved.Failure));
        Assert.Equal("column 'reader_id' is NULL", unresolved.Reason);
    }

    [Fact]
    public void Untrusted_and_undecodable_columns_are_never_rendered_and_their_reasons_name_the_fix()
    {
        var plan = Planner.Plan(Delete(
            Row(("loan_id", ColumnValue.Of("79")), ("reader_id", ColumnValue.Untrusted), ("branch", ColumnValue.UndecodableOf("Zm9v"))),
            Row(("loan_id", ColumnValue.Of("79")))));

        Assert.Equal(["loan:79", "loans:all"], plan.Keys.Order(StringComparer.Ordinal));
        Assert.Empty(plan.Tags);
        var untrusted = Assert.Single(plan.Unresolved, u => u.Failure == RenderFailure.UntrustedColumn);
        Assert.Equal("reader_id", untrusted.Column);
        Assert.Contains("REPLICA IDENTITY FULL", untrusted.Reason, StringComparison.Ordinal);
        var undecodable = Assert.Single(plan.Unresolved, u => u.Failure == RenderFailure.UndecodableDecimal);
        Assert.Equal("branch", undecodable.Column);
        Assert.Contains("decimal.handling.mode=string", undecodable.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void An_untrusted_old_value_counts_as_changed_and_equal_undecodable_values_as_unchanged()
    {
        var after = Row(("loan_id", ColumnValue.Of("80")), ("due_on", ColumnValue.Of("19800")), ("branch", ColumnValue.UndecodableOf("AQ==")));

        var untrustedBefore = Row(("loan_id", ColumnValue.Of("80")), ("due_on", ColumnValue.Untrusted), ("branch", ColumnValue.UndecodableOf("AQ==")));
        var sameBefore = Row(("loan_id", ColumnValue.Of("80")), ("due_on", ColumnValue.Of("19800")), ("branch", ColumnValue.UndecodableOf("AQ==")));
        var otherBefore = Row(("loan_id", ColumnValue.Of("80")), ("due_on", ColumnValue.Of("19800")), ("branch", ColumnValue.UndecodableOf("Ag==")));

        Assert.Equal(PlanOutcome.Invalidate, Planner.Plan(new("library.loans", ChangeOperation.Update, untrustedBefore, after, null, null)).Outcome);
        Assert.Equal(PlanOutcome.Unchanged, Planner.Plan(new("library.loans", ChangeOperation.Update, sameBefore, after, null, null)).Outcome);
        Assert.Equal(PlanOutcome.Invalidate, Planner.Plan(new("library.loans", ChangeOperation.Update, otherBefore, after, null, null)).Outcome);
    }
}
