namespace Invalidator.Worker.Events;

// What planning a record found (RecordIntake), and the rules it plans with (RulesReloader): the fields are strings
// the caller already has.

/// <summary>
/// <paramref name="Count"/> source records were handled alike: <paramref name="Outcome"/> is their label (<c>invalidated</c>,
/// <c>no_rule</c>, <c>poison</c>, ...). Published per batch, and at once for the first record of a kind (<see cref="Processing.RecordTally"/>).
/// </summary>
internal readonly record struct RecordHandled(string Source, string Operation, string Outcome, long Count = 1);

/// <summary>A key or tag template could not be rendered for a change (a missing or unusable column, a name too long).</summary>
internal readonly record struct TemplateUnresolved(string Table, string Template);

/// <summary>A change was planned in shadow: counted, nothing deleted. <paramref name="Example"/> is already redacted.</summary>
internal readonly record struct ShadowPlanned(string Table, int Keys, int Tags, string? Example);

/// <summary>
/// A delete of <paramref name="Table"/> looked like REPLICA IDENTITY DEFAULT's (the key's columns and type defaults)
/// and its rule does not state <c>replicaIdentity</c>.
/// </summary>
internal readonly record struct SuspectDefaultIdentitySeen(string Table);

/// <summary>A reload of the rules file ended: <paramref name="Result"/> is <c>applied</c>, <c>rejected</c> or <c>unchanged</c>.</summary>
internal readonly record struct RulesReloaded(string Result);
