using System.Diagnostics.Metrics;
using Invalidator.Core.Rules;

namespace Invalidator.Worker.RulesReload;

/// <summary>How the last reload ended.</summary>
internal enum RulesReloadResult
{
    /// <summary>A new version validated and is live.</summary>
    Applied,

    /// <summary>The file did not validate (or could not be read): the version before it stays live.</summary>
    Rejected,

    /// <summary>The file's text is the live version's: nothing to do.</summary>
    Unchanged,
}

/// <summary>
/// One reload attempt, for the status page: when, why, what came of it, and a refused file's errors (the first
/// <see cref="RulesLimits.MaxErrors"/>; <see cref="ErrorCount"/> counts them all).
/// </summary>
internal sealed record RulesReload(DateTimeOffset At, string Trigger, RulesReloadResult Result, string? Version, IReadOnlyList<string> Errors)
{
    /// <summary>Every error of a refused file, including those not kept in <see cref="Errors"/>.</summary>
    public int ErrorCount { get; init; } = Errors.Count;
}

/// <summary>
/// The rules the worker runs now. A reload swaps the whole <see cref="LoadedRules"/> (rules, planner and decoder hints
/// together) in one reference write; the sources take the new version when they start their next batch
/// (<see cref="Processing.RecordIntake.UseLatestRules"/>), so a batch is always planned with one version.
/// </summary>
internal sealed class LiveRules
{
    private volatile LoadedRules _current;
    private volatile RulesReload? _lastReload;

    public LiveRules(LoadedRules initial)
    {
        ArgumentNullException.ThrowIfNull(initial);
        _current = initial;
    }

    public LoadedRules Current => _current;

    /// <summary>The last reload attempt since the start (null before the first).</summary>
    public RulesReload? LastReload => _lastReload;

    /// <summary>Rules that never change (benchmarks, commands that do not reload).</summary>
    internal static LiveRules Fixed(RuleSet rules) => new(LoadedRules.Of(rules, DateTimeOffset.UtcNow));

    internal void Apply(LoadedRules next, RulesReload reload)
    {
        _current = next;
        _lastReload = reload;
    }

    internal void Record(RulesReload reload) => _lastReload = reload;

    /// <summary><c>invalidator_rules_info{version,loaded_at}</c>: 1 for the live version.</summary>
    internal IEnumerable<Measurement<int>> InfoMeasurements()
    {
        var current = _current;
        return [new Measurement<int>(1, new("version", current.Version), new("loaded_at", current.LoadedAtText))];
    }
}
