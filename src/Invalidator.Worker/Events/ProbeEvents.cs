namespace Invalidator.Worker.Events;

// What the freshness probe measured (Probe/CanaryProbe).

/// <summary>How one canary ended in one region: the label <c>result</c> of <c>invalidator_freshness_probes_total</c>.</summary>
internal enum CanaryResult
{
    /// <summary>Gone within <c>Invalidator:Probe:Objective</c> of its commit.</summary>
    Ok,

    /// <summary>Gone, but later than the objective.</summary>
    Late,

    /// <summary>Not gone by <c>Invalidator:Probe:Deadline</c> (or it could not even be written).</summary>
    Lost,
}

/// <summary>
/// One canary in one region: its name (before the region's prefix), how it ended, the time from its row's commit to its
/// being gone (null when lost), when that was decided, and for a lost one why.
/// </summary>
internal readonly record struct CanaryMeasured(string Region, string Canary, CanaryResult Result, TimeSpan? Freshness, DateTimeOffset At, string? Reason);
