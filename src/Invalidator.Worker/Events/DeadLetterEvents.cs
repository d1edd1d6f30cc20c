namespace Invalidator.Worker.Events;

// What went to the dead-letter store (BatchApplier, RegionPoisonWriter) and how far the redrive is behind (RegionRedriver).

/// <summary>
/// A letter was written to the dead-letter store: <paramref name="Kind"/> is <c>poison</c> or <c>region</c>,
/// <paramref name="Region"/> is empty for a poison record, <paramref name="Summary"/> is what the status page shows, and
/// <paramref name="PoisonedNames"/> is how many keys and tags a region's poison letter holds (0 for other letters).
/// </summary>
internal readonly record struct DeadLetterWritten(string Kind, string Region, string Summary, int PoisonedNames = 0);

/// <summary>
/// A region's share of a batch was dead-lettered instead of applied: its deletes go to the dead-letter store until it
/// applies a batch again (<see cref="RegionApplied"/>). A region that deliberately dead-letters keeps the worker ready.
/// </summary>
internal readonly record struct RegionDeadLetteringStarted(string Region);

/// <summary>
/// The region's redrive is working on a letter that failed at <paramref name="Oldest"/> (its oldest waiting letter,
/// stored at <paramref name="Letter"/>), or nothing waits (null). Published at every turn of the redrive.
/// </summary>
internal readonly record struct RedriveBacklogMeasured(string Region, DateTimeOffset? Oldest, string? Letter = null);
