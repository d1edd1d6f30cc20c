namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// The redrive's view of the dead-letter store: each region's letters not yet redriven, and marking one redriven once
/// its region applied it. Progress is kept per region, so a region that is still down holds back only its own letters.
/// </summary>
internal interface IRedriveReader
{
    /// <summary>What the store is, for messages: <c>topic invalidator.dead-letter</c>, <c>table public.invalidator_dead_letters</c>.</summary>
    string Name { get; }

    /// <summary>
    /// The region's next letters not yet redriven, oldest first, after the ones this process read before (an empty
    /// list when there are none right now). Reading again means every letter read before is marked or passed over.
    /// </summary>
    Task<IReadOnlyList<PendingRegionLetter>> ReadPendingAsync(string region, int limit, CancellationToken cancellationToken);

    /// <summary>Records that the letter was re-applied to its region: it is not redriven again.</summary>
    Task MarkRedrivenAsync(PendingRegionLetter letter, CancellationToken cancellationToken);
}

/// <summary>
/// A region letter waiting to be redriven. <see cref="Letter"/> is null when the stored bytes are not a letter
/// (it cannot be redriven and is passed over). <see cref="Partition"/> and <see cref="Position"/> say where it is
/// in the store (topic partition and offset; 0 and the row id for the table).
/// </summary>
internal sealed record PendingRegionLetter(string Region, RegionDeadLetter? Letter, string Where, int Partition, long Position);
