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
        var regions = new RegionInvalidator[targets.Count];
        var tasks = new Task<RegionApplyResult>[targets.Count];
        var next = 0;
        foreach (var region in targets)
        {
            regions[next] = region;
            tasks[next++] = region.ApplyAsync(batch, round, cancellationToken);
        }

        // Each region's outcome is read below, so a failure is not thrown here.
        await ((Task)Task.WhenAll(tasks)).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);

        cancellationToken.ThrowIfCancellationRequested();
        List<RegionApplyException>? failures = null;
        List<RegionRefusals>? refused = null;
        for (var i = 0; i < tasks.Length; i++)
        {
            var task = tasks[i];
            if (task.IsFaulted)
            {
                (failures ??= []).Add(task.Exception!.InnerException as RegionApplyException
                    ?? throw new InvalidOperationException("A region failed in an unexpected way", task.Exception));
            }
            else if (task.IsCompletedSuccessfully && task.Result.RefusedNames.Count > 0)
            {
                (refused ??= []).Add(new RegionRefusals(regions[i].Name, task.Result.RefusedNames));
            }
        }

        return failures is null && refused is null ? RegionSetResult.Applied : new RegionSetResult(failures ?? [], refused ?? []);
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
