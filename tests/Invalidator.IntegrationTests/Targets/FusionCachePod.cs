using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Invalidator.IntegrationTests.Targets;

/// <summary>
/// One application node ("pod") as a FusionCache user sets it up: its own L1 (a memory cache of its own), the Redis
/// distributed cache as L2 and the Redis backplane, with a connection of its own as a separate process would have.
/// </summary>
public sealed class FusionCachePod : IAsyncDisposable
{
    private readonly ConnectionMultiplexer _connection;
    private readonly MemoryCache _memory = new(new MemoryCacheOptions());

    private FusionCachePod(ConnectionMultiplexer connection, FusionCacheSetup setup, IFusionCacheSerializer serializer)
    {
        _connection = connection;
        Cache = new FusionCache(new FusionCacheOptions
        {
            CacheName = setup.CacheName,
            CacheKeyPrefix = setup.CacheKeyPrefix,
            // Subscribed before the test goes on, so that no backplane message is missed.
            WaitForInitialBackplaneSubscribe = true,
            DefaultEntryOptions = { Duration = TimeSpan.FromMinutes(10) },
        }, _memory);
        Cache.SetupSerializer(serializer);
        Cache.SetupDistributedCache(new RedisCache(MsOptions.Create(new RedisCacheOptions
        {
            InstanceName = setup.InstanceName,
            ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(connection),
        })));
        Cache.SetupBackplane(new RedisBackplane(MsOptions.Create(new RedisBackplaneOptions
        {
            ConnectionMultiplexerFactory = () => Task.FromResult<IConnectionMultiplexer>(connection),
        })));
    }

    public FusionCache Cache { get; }

    public static async Task<FusionCachePod> StartAsync(string redis, FusionCacheSetup setup, IFusionCacheSerializer? serializer = null)
    {
        var connection = await ConnectionMultiplexer.ConnectAsync(redis);
        return new FusionCachePod(connection, setup, serializer ?? new FusionCacheSystemTextJsonSerializer());
    }

    /// <summary>Caches <paramref name="value"/> under <paramref name="key"/> (L1 and L2) as the application's read would.</summary>
    public async Task<string> ReadAsync(string key, string value, params string[] tags) =>
        await Cache.GetOrSetAsync<string>(key, _ => Task.FromResult(value), tags: tags);

    /// <summary>What this node's L1 holds for <paramref name="key"/>, without asking L2.</summary>
    public async Task<string?> InMemoryAsync(string key) =>
        (await Cache.TryGetAsync<string>(key, options => options.SetSkipDistributedCacheRead(true))).GetValueOrDefault(null!);

    /// <summary>What a read finds (L1, then L2), without loading anything.</summary>
    public async Task<string?> CachedAsync(string key) =>
        (await Cache.TryGetAsync<string>(key)).GetValueOrDefault(null!);

    public async ValueTask DisposeAsync()
    {
        Cache.Dispose();
        _memory.Dispose();
        await _connection.DisposeAsync();
    }
}

/// <summary>What the applications and the worker's region must agree on.</summary>
public sealed record FusionCacheSetup(string CacheName, string CacheKeyPrefix, string InstanceName)
{
    /// <summary>Names no other test uses: its own backplane channel (the cache name), keys and tag entries.</summary>
    public static FusionCacheSetup Unique(string name)
    {
        var unique = Infrastructure.ServersFixture.UniqueName(name);
        return new FusionCacheSetup(unique, unique + ":", "app-" + unique + ":");
    }

    /// <summary>The worker's settings for region <paramref name="region"/> of this setup.</summary>
    public Dictionary<string, string?> RegionSettings(string region) => new()
    {
        [$"Invalidator:Regions:{region}:Target"] = "FusionCache",
        [$"Invalidator:Regions:{region}:KeyPrefix"] = "",
        [$"Invalidator:Regions:{region}:FusionCache:CacheName"] = CacheName,
        [$"Invalidator:Regions:{region}:FusionCache:CacheKeyPrefix"] = CacheKeyPrefix,
        [$"Invalidator:Regions:{region}:FusionCache:InstanceName"] = InstanceName,
    };
}
