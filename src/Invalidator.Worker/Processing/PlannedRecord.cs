namespace Invalidator.Worker.Processing;

/// <summary>What planning one source record gave: its outcome, why it is poison (if it is), and its database commit time.</summary>
internal readonly record struct PlannedRecord(RecordOutcome Outcome, string? PoisonReason, DateTimeOffset? CommitTime)
{
    public bool IsPoison => Outcome == RecordOutcome.Poison;
}
