namespace Invalidator.Worker.Processing;

/// <summary>What became of one source record; the value is the <c>outcome</c> label of <c>invalidator_records_total</c>.</summary>
internal enum RecordOutcome
{
    Invalidated,
    NoRule,
    Ignored,
    Unchanged,
    Tombstone,
    Heartbeat,
    Transaction,
    SchemaChange,
    Poison,

    /// <summary>Planned in shadow (<c>Invalidator:Mode = Shadow</c> or the rule's <c>shadow: true</c>): counted, not deleted.</summary>
    Shadow,
}

internal static class RecordOutcomeLabels
{
    public static string ToLabel(this RecordOutcome outcome) => outcome switch
    {
        RecordOutcome.Invalidated => "invalidated",
        RecordOutcome.NoRule => "no_rule",
        RecordOutcome.Ignored => "ignored",
        RecordOutcome.Unchanged => "unchanged",
        RecordOutcome.Tombstone => "tombstone",
        RecordOutcome.Heartbeat => "heartbeat",
        RecordOutcome.Transaction => "transaction",
        RecordOutcome.SchemaChange => "schema_change",
        RecordOutcome.Poison => "poison",
        RecordOutcome.Shadow => "shadow",
        _ => "unknown",
    };
}
