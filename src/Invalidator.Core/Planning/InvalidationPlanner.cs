using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Planning;

/// <summary>
/// Turns a change into the keys and tags it invalidates, following the rules file.
/// Templates render against the before and the after image and the union is invalidated, so a changed
/// email invalidates both the old and the new email's key. The record key (primary-key columns) is a
/// third image, used only when neither row image can render a template (a tombstone, or a delete under
/// REPLICA IDENTITY NOTHING, carries no row at all). Every template that no image renders is reported.
/// </summary>
public sealed class InvalidationPlanner
{
    private readonly RuleSet _rules;

    public InvalidationPlanner(RuleSet rules)
    {
        ArgumentNullException.ThrowIfNull(rules);
        _rules = rules;
    }

    public InvalidationPlan Plan(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        if (!_rules.TryGetRule(change.Table, out var rule))
        {
            return InvalidationPlan.NoRule;
        }

        switch (change.Operation)
        {
            case ChangeOperation.Truncate:
                // A truncate has no rows: only the rule's static truncate keys and tags apply.
                return rule.TruncateKeys.Count == 0 && rule.TruncateTags.Count == 0
                    ? InvalidationPlan.OperationIgnored
                    : new InvalidationPlan(PlanOutcome.Invalidate, rule.TruncateKeys, rule.TruncateTags, []) { Leases = rule.Leases, SecondDelete = rule.SecondDelete };
            case ChangeOperation.Message:
                return InvalidationPlan.OperationIgnored;
        }

        if (!rule.Ops.Contains(change.Operation))
        {
            return InvalidationPlan.OperationIgnored;
        }

        if (change.Operation == ChangeOperation.Update && rule.Changed is { } watched && !AnyChanged(change, watched))
        {
            return InvalidationPlan.Unchanged;
        }

        List<UnresolvedTemplate>? unresolved = null;
        var keys = RenderAll(rule.Keys, change, ref unresolved);
        var tags = RenderAll(rule.Tags, change, ref unresolved);
        return new InvalidationPlan(PlanOutcome.Invalidate, keys, tags, (IReadOnlyList<UnresolvedTemplate>?)unresolved ?? []) { Leases = rule.Leases, SecondDelete = rule.SecondDelete };
    }

    private static List<string> RenderAll(IReadOnlyList<KeyTemplate> templates, ChangeEvent change, ref List<UnresolvedTemplate>? unresolved)
    {
        var rendered = new List<string>(templates.Count * 2);
        var hasRow = change.Before is not null || change.After is not null;
        foreach (var template in templates)
        {
            var fromRows = false;
            fromRows |= TryRender(template, change.Before, "before", change.Table, rendered, ref unresolved);
            fromRows |= TryRender(template, change.After, "after", change.Table, rendered, ref unresolved);
            if (fromRows)
            {
                continue;
            }

            // The record key is the last image (a delete without a row, a tombstone). Without a row image its
            // failure is the template's only report: a template that renders from nothing is never silent.
            var result = template.Render(change.Key ?? RowImage.Empty);
            if (result.Succeeded)
            {
                AddDistinct(rendered, result.Value!);
            }
            else if (!hasRow)
            {
                (unresolved ??= []).Add(change.Key is null
                    ? new UnresolvedTemplate(change.Table, template.Text, "none", RenderFailure.NoImage, result.Column!)
                    : new UnresolvedTemplate(change.Table, template.Text, "key", result.Failure, result.Column!));
            }
        }

        return rendered;
    }

    private static bool TryRender(KeyTemplate template, RowImage? image, string imageName, string table, List<string> rendered, ref List<UnresolvedTemplate>? unresolved)
    {
        if (image is null)
        {
            return false;
        }

        var result = template.Render(image);
        if (result.Succeeded)
        {
            AddDistinct(rendered, result.Value!);
            return true;
        }

        (unresolved ??= []).Add(new UnresolvedTemplate(table, template.Text, imageName, result.Failure, result.Column!));
        return false;
    }

    // Plans are small (a handful of keys), so a linear check beats allocating a set per change.
    private static void AddDistinct(List<string> list, string value)
    {
        if (!list.Contains(value))
        {
            list.Add(value);
        }
    }

    /// <summary>
    /// True when any watched column may have changed. Unknown counts as changed (the safe side): no before
    /// image (default replica identity), a column the before image lacks, a before value Debezium did not send
    /// or that is not the row's (untrusted). An after value that is unavailable means Debezium saw it unchanged
    /// (unchanged TOAST). Undecodable values keep their raw text, so equal raw values are unchanged.
    /// </summary>
    private static bool AnyChanged(ChangeEvent change, IReadOnlyList<string> watched)
    {
        if (change.Before is not { } before || change.After is not { } after)
        {
            return true;
        }

        foreach (var column in watched)
        {
            if (!before.TryGet(column, out var old) || !after.TryGet(column, out var now))
            {
                return true;
            }

            if (now.Kind == ColumnValueKind.Unavailable)
            {
                continue;
            }

            if (old.Kind is ColumnValueKind.Unavailable or ColumnValueKind.Untrusted || old != now)
            {
                return true;
            }
        }

        return false;
    }
}
