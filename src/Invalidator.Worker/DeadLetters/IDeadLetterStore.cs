namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Where the worker keeps what it could not use or apply: the dead-letter topic (Kafka mode) or table (direct
/// mode). Each source registers its own. A write returns only once the letter is durable, so the source may then
/// acknowledge the positions it covers; a write that throws made nothing durable.
/// </summary>
internal interface IDeadLetterStore
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

    /// <summary>
    /// The region's next letters not yet redriven, oldest first, after the ones this process read before (an empty
    /// list when there are none right now). Reading again means every letter read before is marked or passed over.
    /// </summary>
    Task<IReadOnlyList<PendingRegionLetter>> ReadPendingAsync(string region, int limit, CancellationToken cancellationToken);

    /// <summary>Records that the letter was re-applied to its region: it is not redriven again.</summary>
    Task MarkRedrivenAsync(PendingRegionLetter letter, CancellationToken cancellationToken);

    /// <summary>Every letter, oldest first, for <c>dlq replay</c>. Marks nothing.</summary>
    IAsyncEnumerable<StoredDeadLetter> ReadAllAsync(CancellationToken cancellationToken);
}

/// <summary>
/// A region letter waiting to be redriven. <see cref="Letter"/> is null when the stored bytes are not a letter
/// (it cannot be redriven and is passed over). <see cref="Partition"/> and <see cref="Position"/> say where it is
/// in the store (topic partition and offset; 0 and the row id for the table).
/// </summary>
internal sealed record PendingRegionLetter(string Region, RegionDeadLetter? Letter, string Where, int Partition, long Position);

/// <summary>What a region's poison letter holds: its region's keys and tags, re-applied to that region by <c>dlq replay</c>.</summary>
internal sealed record RegionNamesContent(RegionDeadLetter Letter) : PoisonContent;

/// <summary>
/// One letter of any kind, as <c>dlq replay</c> reads it: a region letter (left to the redrive; <see cref="Poison"/> is
/// null) or a poison record. <see cref="Source"/> is where the record was read (its topic, or <c>postgres</c>).
/// </summary>
internal sealed record StoredDeadLetter(string Kind, string Reason, string Where, PoisonContent? Poison, string Source);
