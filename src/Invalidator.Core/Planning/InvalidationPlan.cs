using Invalidator.Core.Rules;

namespace Invalidator.Core.Planning;

/// <summary>Why a change does or does not invalidate anything.</summary>
public enum PlanOutcome
{
    /// <summary>The change invalidates the plan's keys and tags (there may still be none, if nothing could render).</summary>
    Invalidate,

    /// <summary>No rule names the change's table.</summary>
    NoRule,

    /// <summary>The rule does not invalidate on this operation (for example snapshot reads by default).</summary>
    OperationIgnored,

    /// <summary>An update that changed none of the rule's <c>changed</c> columns.</summary>
    Unchanged,
}

/// <summary>A template that could not be rendered from one image: counted and logged, never rendered with a blank.</summary>
/// <param name="Table">The change's table.</param>
/// <param name="Template">The template text as written in the rules file.</param>
/// <param name="Image">Which image failed: <c>before</c>, <c>after</c> or <c>key</c>; <c>none</c> when the change had no image at all.</param>
/// <param name="Failure">Why.</param>
/// <param name="Column">The column that was missing, null, unavailable, untrusted or undecodable (for <c>none</c>, the template's first column).</param>
public readonly record struct UnresolvedTemplate(string Table, string Template, string Image, RenderFailure Failure, string Column)
{
    /// <summary>For <see cref="RenderFailure.TooLong"/>: the rendered name's length in UTF-8 bytes.</summary>
    public int Bytes { get; init; }

    /// <summary>For <see cref="RenderFailure.TooLong"/>: the bound it is over (<c>Invalidator:Rules:MaxKeyBytes</c>).</summary>
    public int MaxBytes { get; init; }

    /// <summary>Why, as a sentence that names the fix where there is one (for logs and <c>explain</c>).</summary>
    public string Reason => Failure == RenderFailure.TooLong
        ? $"the rendered name is {Bytes} bytes, over Invalidator:Rules:MaxKeyBytes ({MaxBytes}); column '{Column}' holds the longest value: " +
          "no cache key should be built from it (a key that long is never the one a reader looks up)"
        : Failure.Describe(Column);
}

/// <summary>What one change invalidates: key names and tag names, before any region prefix.</summary>
public sealed record InvalidationPlan(
    PlanOutcome Outcome,
    IReadOnlyList<string> Keys,
    IReadOnlyList<string> Tags,
    IReadOnlyList<UnresolvedTemplate> Unresolved)
{
    public static InvalidationPlan NoRule { get; } = new(PlanOutcome.NoRule, [], [], []);

    public static InvalidationPlan OperationIgnored { get; } = new(PlanOutcome.OperationIgnored, [], [], []);

    public static InvalidationPlan Unchanged { get; } = new(PlanOutcome.Unchanged, [], [], []);

    public bool IsEmpty => Keys.Count == 0 && Tags.Count == 0;

    /// <summary>The rule says <c>leases: true</c>: delete each key's (and tag member's) lease key with it.</summary>
    public bool Leases { get; init; }

    /// <summary>The rule's <c>secondDelete</c>: null when it does not say, zero when it turns the second delete off.</summary>
    public TimeSpan? SecondDelete { get; init; }

    /// <summary>The rule says <c>waitForReplicas: true</c>: delete the names once more when the read replicas replayed the change.</summary>
    public bool WaitForReplicas { get; init; }
}
