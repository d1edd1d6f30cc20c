using Invalidator.Core.Planning;

namespace Invalidator.Worker.Regions;

/// <summary>Applies a batch in every region in parallel; each region succeeds or fails on its own.</summary>
public sealed class RegionSet : IDisposable
{
    public RegionSet(IReadOnlyList<RegionInvalidator> regions)
    {
        Regions = regions;
    }

    public IReadOnlyList<RegionInvalidator> Regions { get; }

    public RegionInvalidator? Find(string name) =>
        Regions.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Applies the batch (as its first or its second delete) in the given regions (all by default) and returns the
    /// ones that failed, once every region has finished. Throws only when cancelled.
    /// </summary>
    public async Task<IReadOnlyList<RegionApplyException>> ApplyAsync(
        InvalidationBatch batch, CancellationToken cancellationToken, IReadOnlyCollection<RegionInvalidator>? only = null, DeleteRound round = DeleteRound.First)
    {
        if (batch.IsEmpty)
        {
            return [];
        }

        var targets = only ?? Regions;
        var attempts = targets.Select(region => region.ApplyAsync(batch, round, cancellationToken)).ToList();
        try
        {
            await Task.WhenAll(attempts).ConfigureAwait(false);
            return [];
        }
        catch when (!cancellationToken.IsCancellationRequested)
        {
            return attempts
                .Where(t => t.IsFaulted)
                .Select(t => t.Exception!.InnerException as RegionApplyException
                    ?? throw new InvalidOperationException("A region failed in an unexpected way", t.Exception))
                .ToList();
        }
    }

    public void Dispose()
    {
        foreach (var region in Regions)
        {
            region.Dispose();
        }
    }
}
