namespace Invalidator.Worker.Options;

/// <summary>
/// <c>Invalidator:Regions:&lt;name&gt;:FusionCache</c>: the worker's FusionCache must be set up like the applications'
/// so that its removes reach their entries and their nodes. Defaults are FusionCache's own.
/// </summary>
internal sealed class FusionCacheTargetOptions
{
    /// <summary>FusionCache's default cache name (<c>FusionCacheOptions.DefaultCacheName</c>).</summary>
    public const string DefaultCacheName = "FusionCache";

    /// <summary>
    /// <c>CacheName</c>: the applications' <c>FusionCacheOptions.CacheName</c> (a named cache's name). It names the
    /// backplane channel unless <see cref="BackplaneChannelPrefix"/> is set. Empty means the default, as in FusionCache.
    /// </summary>
    public string CacheName { get; set; } = DefaultCacheName;

    /// <summary>
    /// <c>CacheKeyPrefix</c>: the applications' <c>FusionCacheOptions.CacheKeyPrefix</c>, put before every key and tag
    /// entry (default none). An application that calls <c>WithCacheKeyPrefix()</c> without an argument uses
    /// <c>&lt;CacheName&gt;:</c>.
    /// </summary>
    public string CacheKeyPrefix { get; set; } = "";

    /// <summary><c>BackplaneChannelPrefix</c>: the applications' <c>FusionCacheOptions.BackplaneChannelPrefix</c> (default: the cache name).</summary>
    public string BackplaneChannelPrefix { get; set; } = "";

    /// <summary>
    /// <c>InstanceName</c>: the applications' <c>RedisCacheOptions.InstanceName</c> (Microsoft.Extensions.Caching.StackExchangeRedis,
    /// FusionCache's L2), put before every Redis key (default none).
    /// </summary>
    public string InstanceName { get; set; } = "";

    /// <summary>
    /// <c>Serializer</c>: the applications' FusionCache serializer. A remove-by-tag writes an entry (the tag's
    /// expiration time) that the applications read back from L2, so it must be written the way they read.
    /// </summary>
    public FusionCacheSerializer Serializer { get; set; } = FusionCacheSerializer.SystemTextJson;

    /// <summary>
    /// <c>TagEntryDuration</c>: how long a remove-by-tag's entry counts in L2. Null: FusionCache's default for tag entries
    /// (<c>TagsDefaultEntryOptions</c>: 1 day in L2 in 2.9.0), as the applications' own remove-by-tag would write it; set it to
    /// the applications' <c>TagsDefaultEntryOptions</c> duration when they changed it.
    /// </summary>
    public TimeSpan? TagEntryDuration { get; set; }
}

/// <summary>The values of <c>Invalidator:Regions:&lt;name&gt;:FusionCache:Serializer</c>.</summary>
internal enum FusionCacheSerializer
{
    /// <summary>ZiggyCreatures.FusionCache.Serialization.SystemTextJson with System.Text.Json's default options.</summary>
    SystemTextJson,
}

/// <summary><c>Invalidator:Regions:&lt;name&gt;:OutputCache</c>: the applications' ASP.NET Core Redis output-cache store.</summary>
internal sealed class OutputCacheTargetOptions
{
    /// <summary>
    /// <c>InstanceName</c>: the applications' <c>RedisOutputCacheOptions.InstanceName</c>
    /// (<c>AddStackExchangeRedisOutputCache</c>), put before the store's keys (default none).
    /// </summary>
    public string InstanceName { get; set; } = "";
}
