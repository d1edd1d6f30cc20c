using Invalidator.Worker.Options;
using Invalidator.Worker.Regions.Targets;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.Worker.Probe;

/// <summary>
/// Target FusionCache: the probe runs a FusionCache like the applications' (cache name, key prefix, backplane channel)
/// on the region's backplane, with no L2. The canary is an entry in its memory only, written without a backplane
/// notification; the worker's remove reaches it through the backplane as it reaches every application node, and the
/// canary is gone when the memory entry is.
/// </summary>
internal sealed class FusionCacheCanary : ICanaryTarget
{
    private readonly FusionCache _cache;

    public FusionCacheCanary(string region, FusionCacheTargetOptions options, IConnectionMultiplexer connection, ILoggerFactory loggers)
    {
        Region = region;
        _cache = new FusionCache(
            new FusionCacheOptions
            {
                CacheName = options.CacheName,
                CacheKeyPrefix = options.CacheKeyPrefix.Length == 0 ? null : options.CacheKeyPrefix,
                BackplaneChannelPrefix = options.BackplaneChannelPrefix.Length == 0 ? null : options.BackplaneChannelPrefix,
                EnableBestPracticesAdvisor = false,
            },
            memoryCache: null,
            logger: new WarningsOnlyLogger<FusionCache>(loggers.CreateLogger<FusionCache>()));
        _cache.SetupBackplane(new RedisBackplane(MsOptions.Create(new RedisBackplaneOptions { ConnectionMultiplexerFactory = () => Task.FromResult(connection) })));
    }

    public string Region { get; }

    public async Task WriteAsync(string name, TimeSpan lifetime, CancellationToken cancellationToken) =>
        await _cache.SetAsync(name, 1, new FusionCacheEntryOptions(lifetime) { SkipBackplaneNotifications = true }, cancellationToken)
            .ConfigureAwait(false);

    public Task<bool> IsGoneAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(!_cache.TryGet<int>(name, token: cancellationToken).HasValue);

    public void Dispose() => _cache.Dispose();
}
