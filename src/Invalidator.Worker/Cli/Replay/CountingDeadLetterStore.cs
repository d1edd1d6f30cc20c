using System.Collections.Concurrent;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>The worker's dead-letter store, counting the region letters a replay writes (a region that could not take its share).</summary>
internal sealed class CountingDeadLetterStore(IDeadLetterStore store) : IDeadLetterStore
{
    private readonly ConcurrentDictionary<string, int> _regionLetters = new(StringComparer.OrdinalIgnoreCase);

    public string Name => store.Name;

    public IReadOnlyDictionary<string, int> RegionLetters => _regionLetters;

    public Task WritePoisonAsync(PoisonRecord poison, CancellationToken cancellationToken) => store.WritePoisonAsync(poison, cancellationToken);

    public async Task WriteRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        await store.WriteRegionLetterAsync(letter, cancellationToken).ConfigureAwait(false);
        _regionLetters.AddOrUpdate(letter.Region, 1, (_, count) => count + 1);
    }

    public Task WriteRegionPoisonAsync(RegionDeadLetter letter, CancellationToken cancellationToken) => store.WriteRegionPoisonAsync(letter, cancellationToken);

    public Task<IReadOnlyList<PendingRegionLetter>> ReadPendingAsync(string region, int limit, CancellationToken cancellationToken) =>
        store.ReadPendingAsync(region, limit, cancellationToken);

    public Task MarkRedrivenAsync(PendingRegionLetter letter, CancellationToken cancellationToken) => store.MarkRedrivenAsync(letter, cancellationToken);

    public IAsyncEnumerable<StoredDeadLetter> ReadAllAsync(CancellationToken cancellationToken) => store.ReadAllAsync(cancellationToken);
}
