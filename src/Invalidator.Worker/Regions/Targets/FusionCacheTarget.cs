using System.Diagnostics.CodeAnalysis;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.Worker.Regions.Targets;

/// <summary>
/// Target <c>FusionCache</c>: the worker drives a FusionCache set up like the applications' (cache name, key prefix,
/// backplane channel, serializer; L2 the Redis distributed cache, backplane Redis pub/sub, both on the region's
/// connection), so the library's own wire formats are used. A key is FusionCache's <c>RemoveAsync</c>: the entry is
/// deleted from L2 and a remove message on the backplane drops it from every node's L1. A tag is
/// <c>RemoveByTagAsync</c>: FusionCache stores the tag's expiration time as an entry in L2 (written with the
/// serializer, read back by the applications) and announces it on the backplane; the applications then treat every
/// entry with that tag cached before it as expired. Leases do not apply: FusionCache has no lease keys.
/// </summary>
internal sealed class FusionCacheTarget : IRegionTarget
{
    // FusionCache runs one remove at a time per call (an L2 command, then a publish): many in flight keep the
    // connection's pipeline full without starting thousands of operations at once.
    private const int MaxInFlight = 256;

    private readonly FusionCache _cache;
    private readonly FusionCacheEntryOptions _removeOptions;
    private readonly FusionCacheEntryOptions _tagOptions;

    [SuppressMessage("Reliability", "CA2000", Justification =
        "RedisCache.Dispose closes and disposes the multiplexer, even one from ConnectionMultiplexerFactory; the region owns "
        + "that connection (RegionInvalidator disposes it), and the RedisCache holds nothing else.")]
    public FusionCacheTarget(FusionCacheTargetOptions options, IConnectionMultiplexer connection, ILoggerFactory loggers)
    {
        var shared = () => Task.FromResult(connection);
        var fusionOptions = new FusionCacheOptions
        {
            CacheName = options.CacheName,
            CacheKeyPrefix = NullIfEmpty(options.CacheKeyPrefix),
            BackplaneChannelPrefix = NullIfEmpty(options.BackplaneChannelPrefix),
            // Failures reach the region's resilience pipeline as they are: a RedisException is retried there, counted
            // by its circuit breaker and finally dead-lettered. FusionCache's own recovery would retry out of sight,
            // after the batch had been acknowledged.
            ReThrowOriginalExceptions = true,
            EnableAutoRecovery = false,
            // The worker caches nothing, so what the applications announce on the backplane is of no use to it.
            IgnoreIncomingBackplaneNotifications = true,
            // Its advice (a key prefix, ...) is for applications; the worker must copy theirs, whatever it is.
            EnableBestPracticesAdvisor = false,
        };

        Description = $"FusionCache '{fusionOptions.CacheName}', cache key prefix '{options.CacheKeyPrefix}', instance name '{options.InstanceName}', "
            + $"backplane channel prefix '{NullIfEmpty(options.BackplaneChannelPrefix) ?? fusionOptions.CacheName}', serializer {options.Serializer}"
            + (options.TagEntryDuration is { } tagDuration ? $", tag entries for {tagDuration}" : "");

        _cache = new FusionCache(fusionOptions, memoryCache: null, logger: new WarningsOnlyLogger<FusionCache>(loggers.CreateLogger<FusionCache>()));
        _cache.SetupSerializer(Serializer(options.Serializer));
        _cache.SetupDistributedCache(new RedisCache(MsOptions.Create(new RedisCacheOptions
        {
            InstanceName = NullIfEmpty(options.InstanceName),
            ConnectionMultiplexerFactory = shared,
        })));
        _cache.SetupBackplane(new RedisBackplane(MsOptions.Create(new RedisBackplaneOptions { ConnectionMultiplexerFactory = shared })));

        // Every operation awaits L2 and the backplane and throws on failure: only then has the region applied it.
        _removeOptions = Awaited(new FusionCacheEntryOptions());
        // A tag entry counts as long as FusionCache's default for tags says, as the applications' own remove-by-tag
        // would write it, unless the region names the applications' duration; the worker keeps none in its memory.
        _tagOptions = Awaited(fusionOptions.TagsDefaultEntryOptions.Duplicate());
        if (options.TagEntryDuration is { } duration)
        {
            _tagOptions.Duration = duration;
            _tagOptions.DistributedCacheDuration = duration;
            _tagOptions.FailSafeMaxDuration = Max(_tagOptions.FailSafeMaxDuration, duration);
            _tagOptions.DistributedCacheFailSafeMaxDuration = Max(_tagOptions.DistributedCacheFailSafeMaxDuration ?? duration, duration);
        }
    }

    public RegionTarget Kind => RegionTarget.FusionCache;

    public bool CountsFound => false;

    public string Description { get; }

    public async Task<RegionApplyResult> ApplyOnceAsync(
        IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, LeaseSelection leases, CancellationToken cancellationToken)
    {
        var work = new List<(string Name, bool IsTag)>(keys.Count + tags.Count);
        work.AddRange(keys.Select(k => (k, false)));
        work.AddRange(tags.Select(t => (t, true)));
        await Parallel.ForEachAsync(
            work,
            new ParallelOptions { MaxDegreeOfParallelism = MaxInFlight, CancellationToken = cancellationToken },
            (item, ct) => item.IsTag ? _cache.RemoveByTagAsync(item.Name, _tagOptions, ct) : _cache.RemoveAsync(item.Name, _removeOptions, ct))
            .ConfigureAwait(false);
        return new RegionApplyResult(work.Count, 0);
    }

    public void Dispose() => _cache.Dispose();

    private static FusionCacheEntryOptions Awaited(FusionCacheEntryOptions options)
    {
        options.AllowBackgroundDistributedCacheOperations = false;
        options.AllowBackgroundBackplaneOperations = false;
        options.ReThrowDistributedCacheExceptions = true;
        options.ReThrowBackplaneExceptions = true;
        options.ReThrowSerializationExceptions = true;
        options.SkipMemoryCacheRead = true;
        options.SkipMemoryCacheWrite = true;
        return options;
    }

    private static FusionCacheSystemTextJsonSerializer Serializer(FusionCacheSerializer serializer) => serializer switch
    {
        FusionCacheSerializer.SystemTextJson => new FusionCacheSystemTextJsonSerializer(),
        _ => throw new ArgumentOutOfRangeException(nameof(serializer), serializer, "Unknown FusionCache serializer"),
    };

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}

/// <summary>
/// FusionCache logs every call at Information ("RemoveAsync call ..."), which at the worker's rates would drown its
/// own log; its warnings and errors (a failed subscription, a serialization error) still get through.
/// </summary>
internal sealed class WarningsOnlyLogger<T>(ILogger<T> inner) : ILogger<T>
{
    public IDisposable? BeginScope<TState>(TState state)
        where TState : notnull => inner.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning && inner.IsEnabled(logLevel);

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel))
        {
            inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
