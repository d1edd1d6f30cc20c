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
    /// <summary>The default of <c>Invalidator:Rules:MaxKeyBytes</c>: a rendered key or tag longer than 1 KiB is unrenderable.</summary>
    public const int DefaultMaxKeyBytes = 1024;

    private readonly RuleSet _rules;
    private readonly int _maxKeyBytes;

    /// <param name="rules">The rules file.</param>
    /// <param name="maxKeyBytes">Longest rendered key or tag, in UTF-8 bytes; a longer one is reported as
    /// <see cref="RenderFailure.TooLong"/> and never invalidated (a column's whole document is no cache key).</param>
    public InvalidationPlanner(RuleSet rules, int maxKeyBytes = DefaultMaxKeyBytes)
    {
        ArgumentNullException.ThrowIfNull(rules);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(maxKeyBytes);
        _rules = rules;
        _maxKeyBytes = maxKeyBytes;
    }

    /// <summary>Longest rendered key or tag in UTF-8 bytes.</summary>
    public int MaxKeyBytes => _maxKeyBytes;

    public InvalidationPlan Plan(ChangeEvent change)
    {
        ArgumentNullException.ThrowIfNull(change);
        var sink = new PlanLists();
        var outcome = Plan(change.Table, change.Operation, change.Before, change.After, change.Key, new PlanLists.Sink(sink));
        return outcome switch
        {
            PlanOutcome.NoRule => InvalidationPlan.NoRule,
            PlanOutcome.OperationIgnored => InvalidationPlan.OperationIgnored,
            PlanOutcome.Unchanged => InvalidationPlan.Unchanged,
            _ => new InvalidationPlan(outcome, sink.Keys, sink.Tags, (IReadOnlyList<UnresolvedTemplate>?)sink.Unresolved ?? [])
            {
                Leases = sink.Rule?.Leases ?? false,
                SecondDelete = sink.Rule?.SecondDelete,
                WaitForReplicas = sink.Rule?.WaitForReplicas ?? false,
            },
        };
    }

    /// <summary>
    /// The planning itself, over any row images: what <see cref="Plan(ChangeEvent)"/> returns as a plan goes to
    /// <paramref name="sink"/> as it is rendered (the worker's path renders straight into its batch). The sink is a struct
    /// so that this code is compiled for each sink: its calls per name are direct, not interface dispatches.
    /// </summary>
    internal PlanOutcome Plan<TSink>(string table, ChangeOperation operation, IRowValues? before, IRowValues? after, IRowValues? key, TSink sink)
        where TSink : struct, IPlanSink
    {
        if (!_rules.TryGetRule(table, out var rule))
        {
            return PlanOutcome.NoRule;
        }

        switch (operation)
        {
            case ChangeOperation.Truncate:
                // A truncate has no rows: only the rule's static truncate keys and tags apply.
                if (rule.TruncateKeys.Count == 0 && rule.TruncateTags.Count == 0)
                {
                    return PlanOutcome.OperationIgnored;
                }

                sink.Begin(rule);
                foreach (var truncateKey in rule.TruncateKeys)
                {
                    sink.Add(PlanName.Key, truncateKey, truncateKey);
                }

                foreach (var truncateTag in rule.TruncateTags)
                {
                    sink.Add(PlanName.Tag, truncateTag, truncateTag);
                }

                return PlanOutcome.Invalidate;
            case ChangeOperation.Message:
                return PlanOutcome.OperationIgnored;
        }

        if (!rule.Invalidates(operation))
        {
            return PlanOutcome.OperationIgnored;
        }

        if (operation == ChangeOperation.Update && rule.Changed is { } watched && !AnyChanged(before, after, watched))
        {
            return PlanOutcome.Unchanged;
        }

        sink.Begin(rule);
        var buffer = RenderBuffer.Rent();
        try
        {
            RenderAll(rule.KeyTemplates, PlanName.Key, table, before, after, key, sink, ref buffer);
            RenderAll(rule.TagTemplates, PlanName.Tag, table, before, after, key, sink, ref buffer);
        }
        finally
        {
            RenderBuffer.Return(buffer);
        }

        return PlanOutcome.Invalidate;
    }

    private void RenderAll<TSink>(
        KeyTemplate[] templates, PlanName kind, string table, IRowValues? before, IRowValues? after, IRowValues? key, TSink sink,
        ref char[] buffer)
        where TSink : struct, IPlanSink
    {
        var hasRow = before is not null || after is not null;
        foreach (var template in templates)
        {
            var fromRows = false;
            fromRows |= TryRender(template, kind, before, "before", table, sink, ref buffer);
            fromRows |= TryRender(template, kind, after, "after", table, sink, ref buffer);
            if (fromRows)
            {
                continue;
            }

            // The record key is the last image (a delete without a row, a tombstone). Without a row image its
            // failure is the template's only report: a template that renders from nothing is never silent.
            var image = key ?? RowImage.Empty;
            var failure = template.RenderInto(image, ref buffer, out var length, out var column);
            if (failure == RenderFailure.None && TooLong(template, image, buffer.AsSpan(0, length), table, "key") is { } tooLong)
            {
                if (!hasRow)
                {
                    sink.Unresolved(tooLong);
                }
            }
            else if (failure == RenderFailure.None)
            {
                sink.Add(kind, buffer.AsSpan(0, length), template.StaticValue);
            }
            else if (!hasRow)
            {
                sink.Unresolved(key is null
                    ? new UnresolvedTemplate(table, template.Text, "none", RenderFailure.NoImage, column!)
                    : new UnresolvedTemplate(table, template.Text, "key", failure, column!));
            }
        }
    }

    private bool TryRender<TSink>(
        KeyTemplate template, PlanName kind, IRowValues? image, string imageName, string table, TSink sink, ref char[] buffer)
        where TSink : struct, IPlanSink
    {
        if (image is null)
        {
            return false;
        }

        var failure = template.RenderInto(image, ref buffer, out var length, out var column);
        if (failure == RenderFailure.None && TooLong(template, image, buffer.AsSpan(0, length), table, imageName) is { } tooLong)
        {
            sink.Unresolved(tooLong);
            return false;
        }

        if (failure == RenderFailure.None)
        {
            sink.Add(kind, buffer.AsSpan(0, length), template.StaticValue);
            return true;
        }

        sink.Unresolved(new UnresolvedTemplate(table, template.Text, imageName, failure, column!));
        return false;
    }

    /// <summary>
    /// The report of a rendered name over <see cref="MaxKeyBytes"/>, or null when it fits. Counting bytes only when
    /// the characters could exceed the bound keeps the common name free of the count.
    /// </summary>
    private UnresolvedTemplate? TooLong(KeyTemplate template, IRowValues image, ReadOnlySpan<char> name, string table, string imageName)
    {
        // A char is at most 3 UTF-8 bytes (a surrogate pair, two chars, is 4).
        if (name.Length * 3L <= _maxKeyBytes)
        {
            return null;
        }

        var bytes = System.Text.Encoding.UTF8.GetByteCount(name);
        if (bytes <= _maxKeyBytes)
        {
            return null;
        }

        // The column that made it long: the template's longest value in this image.
        string longest = template.Columns.Count > 0 ? template.Columns[0] : "";
        var longestLength = -1;
        foreach (var column in template.Columns)
        {
            if (image.TryGetText(column, out _, out var text) && text.Length > longestLength)
            {
                (longest, longestLength) = (column, text.Length);
            }
        }

        return new UnresolvedTemplate(table, template.Text, imageName, RenderFailure.TooLong, longest)
        {
            Bytes = bytes,
            MaxBytes = _maxKeyBytes,
        };
    }

    /// <summary>
    /// True when any watched column may have changed. Unknown counts as changed (the safe side): no before
    /// image (default replica identity), a column the before image lacks, a before value Debezium did not send
    /// or that is not the row's (untrusted). An after value that is unavailable means Debezium saw it unchanged
    /// (unchanged TOAST). Undecodable values keep their raw text, so equal raw values are unchanged.
    /// </summary>
    private static bool AnyChanged(IRowValues? before, IRowValues? after, IReadOnlyList<string> watched)
    {
        if (before is null || after is null)
        {
            return true;
        }

        foreach (var column in watched)
        {
            if (!before.TryGetText(column, out var oldKind, out var oldText) || !after.TryGetText(column, out var nowKind, out var nowText))
            {
                return true;
            }

            if (nowKind == ColumnValueKind.Unavailable)
            {
                continue;
            }

            if (oldKind is ColumnValueKind.Unavailable or ColumnValueKind.Untrusted || oldKind != nowKind || !oldText.SequenceEqual(nowText))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>A plan as lists, deduplicated per plan (plans are small: a linear check beats a set per change).</summary>
    private sealed class PlanLists
    {
        /// <summary>The lists as the planner's sink.</summary>
        public readonly struct Sink(PlanLists lists) : IPlanSink
        {
            public void Begin(TableRule rule) => lists.Begin(rule);

            public void Add(PlanName kind, ReadOnlySpan<char> name, string? text) => lists.Add(kind, name, text);

            public void Unresolved(UnresolvedTemplate unresolved) => (lists.Unresolved ??= []).Add(unresolved);
        }

        public List<string> Keys { get; } = [];

        public List<string> Tags { get; } = [];

        public List<UnresolvedTemplate>? Unresolved { get; set; }

        /// <summary>The rule that planned the names (null when nothing invalidates).</summary>
        public TableRule? Rule { get; private set; }

        public void Begin(TableRule rule) => Rule = rule;

        public void Add(PlanName kind, ReadOnlySpan<char> name, string? text)
        {
            var list = kind == PlanName.Key ? Keys : Tags;
            foreach (var known in list)
            {
                if (name.SequenceEqual(known))
                {
                    return;
                }
            }

            list.Add(text ?? name.ToString());
        }
    }
}

/// <summary>Whether a planned name is a key or a tag.</summary>
internal enum PlanName
{
    Key,
    Tag,
}

/// <summary>Where planning puts what it renders: a plan's lists, or straight into a batch (a struct around either).</summary>
internal interface IPlanSink
{
    /// <summary>The change invalidates (what follows) by <paramref name="rule"/>: its <c>leases</c>, <c>secondDelete</c> and <c>shadow</c> apply.</summary>
    void Begin(TableRule rule);

    /// <summary>A rendered key or tag (<paramref name="text"/> is its string when there is one already, a static name).</summary>
    void Add(PlanName kind, ReadOnlySpan<char> name, string? text);

    void Unresolved(UnresolvedTemplate unresolved);
}
