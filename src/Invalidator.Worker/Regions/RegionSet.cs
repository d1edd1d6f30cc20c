using Invalidator.Core.Planning;

namespace Invalidator.Worker.Regions;

/// <summary>Applies a batch in every region in parallel; each region succeeds or fails on its own.</summary>
internal sealed class RegionSet : IDisposable
{
    public RegionSet(IReadOnlyList<RegionInvalidator> regions)
    {
        Regions = regions;
    }

    public IReadOnlyList<RegionInvalidator> Regions { get; }

    public RegionInvalidator? Find(string name) =>
        Regions.FirstOrDefault(r => string.Equals(r.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Applies the batch (as its first or its second delete) in the given regions (all by default) and returns, once every
    /// region has finished, the ones that failed and the names each region's server refused for good (the rest of the
    /// batch applied there). Throws only when cancelled.
    /// </summary>
    public async Task<RegionSetResult> ApplyAsync(
        InvalidationBatch batch, CancellationToken cancellationToken, IReadOnlyCollection<RegionInvalidator>? only = null, DeleteRound round = DeleteRound.First)
    {
        if (batch.IsEmpty)
        {
            return RegionSetResult.Applied;
        }

        var targets = only ?? Regions;
        var attempts = targets.Select(region => (region, task: region.ApplyAsync(batch, round, cancellationToken))).ToList();
        // Each region's outcome is read below, so a failure is not thrown here.
        await Task.WhenAll(attempts.Select(a => (Task)a.task)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        cancellationToken.ThrowIfCancellationRequested();
        var failures = attempts
            .Where(a => a.task.IsFaulted)
            .Select(a => a.task.Exception!.InnerException as RegionApplyException
                ?? throw new InvalidOperationException("A region failed in an unexpected way", a.task.Exception))
            .ToList();
        var refused = attempts
            .Where(a => a.task.IsCompletedSuccessfully && a.task.Result.RefusedNames.Count > 0)
            .Select(a => new RegionRefusals(a.region.Name, a.task.Result.RefusedNames))
            .ToList();
        return failures.Count == 0 && refused.Count == 0 ? RegionSetResult.Applied : new RegionSetResult(failures, refused);
    }

    public void Dispose()
    {
        foreach (var region in Regions)
        {
            region.Dispose();
        }
    }
}

/// <summary>What a batch did in a set of regions: the regions that failed it, and the names a region's server refused for good.</summary>
internal sealed record RegionSetResult(IReadOnlyList<RegionApplyException> Failures, IReadOnlyList<RegionRefusals> Refused)
{
    public static RegionSetResult Applied { get; } = new([], []);
}

/// <summary>The names one region's server refused for good while it applied the rest of a batch.</summary>
internal sealed record RegionRefusals(string Region, IReadOnlyList<RefusedName> Names);
