using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.Probe;

/// <summary>
/// Where one region's canaries live, in the form the region's target invalidates: a Redis key, a FusionCache entry in the
/// memory of a FusionCache on the region's backplane, or a tagged output-cache entry. A canary is written before its row
/// changes and watched until the worker's delete has removed it.
/// </summary>
internal interface ICanaryTarget : IDisposable
{
    /// <summary>The region's name.</summary>
    string Region { get; }

    /// <summary>Writes the canary <paramref name="name"/> (before the region's prefix) so that it outlives <paramref name="lifetime"/>.</summary>
    Task WriteAsync(string name, TimeSpan lifetime, CancellationToken cancellationToken);

    /// <summary>Whether the canary is gone (deleted; a canary is never read back otherwise).</summary>
    Task<bool> IsGoneAsync(string name, CancellationToken cancellationToken);
}

/// <summary>The canary target of each region, on the region's own connection.</summary>
internal static class CanaryTargets
{
    public static List<ICanaryTarget> For(RegionSet regions, IReadOnlyDictionary<string, RegionOptions> options, ILoggerFactory loggers)
    {
        var targets = new List<ICanaryTarget>(regions.Regions.Count);
        foreach (var region in regions.Regions)
        {
            var settings = options.TryGetValue(region.Name, out var found) ? found : new RegionOptions();
            targets.Add(region.Target switch
            {
                RegionTarget.FusionCache => new FusionCacheCanary(region.Name, settings.FusionCache ?? new(), region.Connection, loggers),
                RegionTarget.OutputCache => new OutputCacheCanary(region.Name, settings.OutputCache ?? new(), region.Connection),
                _ => new RedisCanary(region.Name, region.KeyPrefix, region.Connection),
            });
        }

        return targets;
    }
}
