namespace Invalidator.Worker.DeadLetters;

/// <summary><c>dlq replay</c>'s view of the dead-letter store: every letter, of any kind, read without marking anything.</summary>
internal interface IDeadLetterReader
{
    /// <summary>Every letter, oldest first, for <c>dlq replay</c>. Marks nothing.</summary>
    IAsyncEnumerable<StoredDeadLetter> ReadAllAsync(CancellationToken cancellationToken);
}

/// <summary>What a region's poison letter holds: its region's keys and tags, re-applied to that region by <c>dlq replay</c>.</summary>
internal sealed record RegionNamesContent(RegionDeadLetter Letter) : PoisonContent;

/// <summary>
/// One letter of any kind, as <c>dlq replay</c> reads it: a region letter (left to the redrive; <see cref="Poison"/> is
/// null) or a poison record. <see cref="Source"/> is where the record was read (its topic, or <c>postgres</c>).
/// </summary>
internal sealed record StoredDeadLetter(string Kind, string Reason, string Where, PoisonContent? Poison, string Source);
