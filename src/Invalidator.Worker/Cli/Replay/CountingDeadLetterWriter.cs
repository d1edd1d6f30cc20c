using System.Collections.Concurrent;
using Invalidator.Worker.DeadLetters;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>The worker's dead-letter writer, counting the region letters a replay writes (a region that could not take its share).</summary>
internal sealed class CountingDeadLetterWriter(IDeadLetterWriter writer) : IDeadLetterWriter
{
    private readonly ConcurrentDictionary<string, int> _regionLetters = new(StringComparer.OrdinalIgnoreCase);

    public string Name => writer.Name;

    public IReadOnlyDictionary<string, int> RegionLetters => _regionLetters;

    public Task WritePoisonAsync(PoisonRecord poison, CancellationToken cancellationToken) => writer.WritePoisonAsync(poison, cancellationToken);

    public async Task WriteRegionLetterAsync(RegionDeadLetter letter, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(letter);
        await writer.WriteRegionLetterAsync(letter, cancellationToken).ConfigureAwait(false);
        _regionLetters.AddOrUpdate(letter.Region, 1, (_, count) => count + 1);
    }

    public Task WriteRegionPoisonAsync(RegionDeadLetter letter, CancellationToken cancellationToken) => writer.WriteRegionPoisonAsync(letter, cancellationToken);
}
