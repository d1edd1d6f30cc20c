namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Writes what the worker could not use or apply to its dead-letter store: the topic (Kafka mode) or table (direct
/// mode) of the selected source. A write returns only once the letter is durable, so the source may then acknowledge
/// the positions it covers; a write that throws made nothing durable.
/// </summary>
internal interface IDeadLetterWriter
{
    /// <summary>What the store is, for messages: <c>topic invalidator.dead-letter</c>, <c>table public.invalidator_dead_letters</c>.</summary>
    string Name { get; }

    /// <summary>Writes a record that could not be decoded or planned, with its reason.</summary>
    Task WritePoisonAsync(PoisonRecord poison, CancellationToken cancellationToken);

    /// <summary>Writes one region's invalidations that the region could not apply.</summary>
    Task WriteRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken);

    /// <summary>
    /// Writes a region's poison letter: names its server refused for good (the letter's reason is the server's error),
    /// or a region letter the redrive quarantined. Of kind poison, so it is never redriven; <c>dlq replay</c> re-applies it.
    /// </summary>
    Task WriteRegionPoisonAsync(RegionDeadLetter letter, CancellationToken cancellationToken);
}
