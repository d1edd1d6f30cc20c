using System.Diagnostics.CodeAnalysis;
using System.Diagnostics.Metrics;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using StackExchange.Redis;

namespace Invalidator.Client;

/// <summary>
/// Cache-aside reads over a Redis <see cref="IDatabase"/> that cannot leave a stale value behind an invalidation:
/// the reader side of Invalidator's lease protocol (docs/consistency.md, "The lease protocol").
/// </summary>
/// <remarks>
/// On a miss of <c>K</c> the reader takes the lease <c>L(K)</c> (<c>SET L(K) token NX PX</c>), registers <c>K</c> in its
/// tag sets, loads, and populates with a script that stores the value only while the lease is still its own. The worker
/// deletes <c>L(K)</c> together with <c>K</c>, so a populate that raced with an invalidation is refused instead of
/// writing the old value back. A reader that finds another reader's lease waits a little and reads again, a bounded
/// number of times (this also keeps a herd of misses off the database), then loads without populating.
/// Thread-safe; one instance per Redis database and key prefix is enough.
/// </remarks>
public sealed class LeasedCache : IDisposable
{
    /// <summary>The name of the meter of the client's counters.</summary>
    public const string MeterName = "Invalidator.Client";

    // WaitForAppliedAsync polls the applied position: often at first (it is usually there within milliseconds), then less.
    private static readonly TimeSpan AppliedPollFirst = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan AppliedPollLast = TimeSpan.FromMilliseconds(20);

    private readonly IDatabase _database;
    private readonly string _prefix;
    private readonly TimeSpan _leaseTime;
    private readonly TimeSpan _leaseWaitDelay;
    private readonly int _maxLeaseWaits;
    private readonly TimeProvider _time;
    private readonly LeasedCacheMetrics _metrics;
    private readonly RedisKey _appliedKey;

    /// <param name="database">The Redis database (standalone or cluster) of the region this application reads.</param>
    /// <param name="options">Key prefix and lease timings; the defaults when null.</param>
    /// <param name="meterFactory">Where the <c>Invalidator.Client</c> meter comes from (dependency injection's); a meter of its own when null.</param>
    /// <param name="timeProvider">The clock of the lease waits; <see cref="TimeProvider.System"/> when null.</param>
    public LeasedCache(IDatabase database, LeasedCacheOptions? options = null, IMeterFactory? meterFactory = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(database);
        options ??= new LeasedCacheOptions();
        options.Validate();
        _database = database;
        _prefix = options.KeyPrefix;
        _leaseTime = options.LeaseTime;
        _leaseWaitDelay = options.LeaseWaitDelay;
        _maxLeaseWaits = options.MaxLeaseWaits;
        _time = timeProvider ?? TimeProvider.System;
        _metrics = new LeasedCacheMetrics(meterFactory);
        _appliedKey = _prefix + AppliedPosition.KeyName;
    }

    /// <summary>The prefix put before every key and tag-set name.</summary>
    public string KeyPrefix => _prefix;

    /// <summary>
    /// The cached string of <paramref name="key"/>, or the one <paramref name="loader"/> reads from the database, stored for
    /// <paramref name="ttl"/> unless an invalidation raced with the load. A null from the loader is returned and not cached.
    /// </summary>
    /// <param name="key">The cache key, without the prefix; the names the worker's rules produce.</param>
    /// <param name="loader">Reads the value from the source of truth.</param>
    /// <param name="ttl">How long a stored value lives (the backstop for anything the protocol cannot see).</param>
    /// <param name="tags">Tags whose sets <c>tag:T</c> list the key, registered before the load.</param>
    /// <param name="cancellationToken">Cancels the waits, the Redis calls' awaiting and the loader.</param>
    /// <exception cref="ArgumentException">The key is empty or has a brace that forms no hash tag (see <see cref="LeaseProtocol.TryGetLeaseKey"/>).</exception>
    public Task<string?> GetOrLoadAsync(
        string key, Func<CancellationToken, Task<string?>> loader, TimeSpan ttl, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        GetOrLoadAsync(key, loader, ttl, tags, null, cancellationToken);

    /// <summary>As the other string overload, with <paramref name="options"/> for this read (read-your-writes: <see cref="LeasedReadOptions.AfterLsn"/>).</summary>
    /// <param name="key">The cache key, without the prefix; the names the worker's rules produce.</param>
    /// <param name="loader">Reads the value from the source of truth.</param>
    /// <param name="ttl">How long a stored value lives (the backstop for anything the protocol cannot see).</param>
    /// <param name="tags">Tags whose sets <c>tag:T</c> list the key, registered before the load.</param>
    /// <param name="options">How this read treats the cache; null: an ordinary read.</param>
    /// <param name="cancellationToken">Cancels the waits, the Redis calls' awaiting and the loader.</param>
    public async Task<string?> GetOrLoadAsync(
        string key, Func<CancellationToken, Task<string?>> loader, TimeSpan ttl, IEnumerable<string>? tags, LeasedReadOptions? options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loader);
        var value = await GetOrLoadCoreAsync(key, async ct => (RedisValue)await loader(ct).ConfigureAwait(false), ttl, tags, options, cancellationToken).ConfigureAwait(false);
        return (string?)value;
    }

    /// <summary>As the string overload, for bytes. A null from the loader is returned and not cached.</summary>
    /// <inheritdoc cref="GetOrLoadAsync(string, Func{CancellationToken, Task{string}}, TimeSpan, IEnumerable{string}, CancellationToken)" path="/param"/>
    public Task<byte[]?> GetOrLoadAsync(
        string key, Func<CancellationToken, Task<byte[]?>> loader, TimeSpan ttl, IEnumerable<string>? tags = null, CancellationToken cancellationToken = default) =>
        GetOrLoadAsync(key, loader, ttl, tags, null, cancellationToken);

    /// <summary>As the other bytes overload, with <paramref name="options"/> for this read (read-your-writes: <see cref="LeasedReadOptions.AfterLsn"/>).</summary>
    /// <inheritdoc cref="GetOrLoadAsync(string, Func{CancellationToken, Task{string}}, TimeSpan, IEnumerable{string}, LeasedReadOptions, CancellationToken)" path="/param"/>
    public async Task<byte[]?> GetOrLoadAsync(
        string key, Func<CancellationToken, Task<byte[]?>> loader, TimeSpan ttl, IEnumerable<string>? tags, LeasedReadOptions? options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(loader);
        var value = await GetOrLoadCoreAsync(key, async ct => (RedisValue)await loader(ct).ConfigureAwait(false), ttl, tags, options, cancellationToken).ConfigureAwait(false);
        return (byte[]?)value;
    }

    /// <summary>
    /// Waits until this region's applied position (<see cref="AppliedPosition.KeyName"/>, direct mode) is at or past
    /// <paramref name="lsn"/>: true then, every change committed before it is invalidated here; false when
    /// <paramref name="timeout"/> passed first (the worker is behind, stopped, or in Kafka mode, which publishes no position).
    /// </summary>
    /// <param name="lsn">The writer's LSN, <c>SELECT pg_current_wal_lsn()</c> after its commit (<c>16/B374D848</c>).</param>
    /// <param name="timeout">How long to wait at most.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="ArgumentException"><paramref name="lsn"/> is not an LSN in Postgres' text form.</exception>
    public async Task<bool> WaitForAppliedAsync(string lsn, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        var target = AppliedPosition.Parse(lsn, nameof(lsn));
        var started = _time.GetTimestamp();
        var pause = AppliedPollFirst;
        while (true)
        {
            if (await IsAppliedAsync(target, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }

            var left = timeout - _time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return false;
            }

            await Task.Delay(pause < left ? pause : left, _time, cancellationToken).ConfigureAwait(false);
            pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, AppliedPollLast.Ticks));
        }
    }

    /// <summary>
    /// As the string overload, for a value stored as UTF-8 JSON with System.Text.Json (source-generated metadata, trim-safe).
    /// A null from the loader is returned and not cached; a loaded value is returned as the loader gave it.
    /// </summary>
    /// <param name="key">The cache key, without the prefix.</param>
    /// <param name="loader">Reads the value from the source of truth.</param>
    /// <param name="ttl">How long a stored value lives.</param>
    /// <param name="tags">Tags whose sets list the key, registered before the load.</param>
    /// <param name="cancellationToken">Cancels the waits, the Redis calls' awaiting and the loader.</param>
    /// <param name="jsonTypeInfo">The type's JSON metadata, e.g. from a <c>JsonSerializerContext</c>.</param>
    public Task<T?> GetOrLoadJsonAsync<T>(
        string key, Func<CancellationToken, Task<T?>> loader, TimeSpan ttl, JsonTypeInfo<T> jsonTypeInfo,
        IEnumerable<string>? tags = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        return GetOrLoadJsonCoreAsync(
            key, loader, ttl, tags, null,
            value => JsonSerializer.SerializeToUtf8Bytes(value, jsonTypeInfo),
            bytes => JsonSerializer.Deserialize(bytes, jsonTypeInfo),
            cancellationToken);
    }

    /// <summary>As the other <see cref="JsonTypeInfo{T}"/> overload, with <paramref name="options"/> for this read (read-your-writes: <see cref="LeasedReadOptions.AfterLsn"/>).</summary>
    /// <param name="key">The cache key, without the prefix.</param>
    /// <param name="loader">Reads the value from the source of truth.</param>
    /// <param name="ttl">How long a stored value lives.</param>
    /// <param name="jsonTypeInfo">The type's JSON metadata, e.g. from a <c>JsonSerializerContext</c>.</param>
    /// <param name="tags">Tags whose sets list the key, registered before the load.</param>
    /// <param name="options">How this read treats the cache; null: an ordinary read.</param>
    /// <param name="cancellationToken">Cancels the waits, the Redis calls' awaiting and the loader.</param>
    public Task<T?> GetOrLoadJsonAsync<T>(
        string key, Func<CancellationToken, Task<T?>> loader, TimeSpan ttl, JsonTypeInfo<T> jsonTypeInfo,
        IEnumerable<string>? tags, LeasedReadOptions? options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(jsonTypeInfo);
        return GetOrLoadJsonCoreAsync(
            key, loader, ttl, tags, options,
            value => JsonSerializer.SerializeToUtf8Bytes(value, jsonTypeInfo),
            bytes => JsonSerializer.Deserialize(bytes, jsonTypeInfo),
            cancellationToken);
    }

    /// <summary>As the <see cref="JsonTypeInfo{T}"/> overload, with reflection-based System.Text.Json serialization.</summary>
    /// <param name="key">The cache key, without the prefix.</param>
    /// <param name="loader">Reads the value from the source of truth.</param>
    /// <param name="ttl">How long a stored value lives.</param>
    /// <param name="tags">Tags whose sets list the key, registered before the load.</param>
    /// <param name="cancellationToken">Cancels the waits, the Redis calls' awaiting and the loader.</param>
    /// <param name="jsonOptions">Serializer options; <see cref="JsonSerializerOptions.Default"/> when null.</param>
    [RequiresUnreferencedCode("Reflection-based JSON serialization; use the JsonTypeInfo<T> overload when trimming.")]
    [RequiresDynamicCode("Reflection-based JSON serialization; use the JsonTypeInfo<T> overload for native AOT.")]
    public Task<T?> GetOrLoadJsonAsync<T>(
        string key, Func<CancellationToken, Task<T?>> loader, TimeSpan ttl,
        IEnumerable<string>? tags = null, JsonSerializerOptions? jsonOptions = null, CancellationToken cancellationToken = default) =>
        GetOrLoadJsonCoreAsync(
            key, loader, ttl, tags, null,
            value => JsonSerializer.SerializeToUtf8Bytes(value, jsonOptions),
            bytes => JsonSerializer.Deserialize<T>(bytes, jsonOptions),
            cancellationToken);

    /// <summary>Disposes the meter this cache created (not one from a meter factory). The database is the caller's.</summary>
    public void Dispose() => _metrics.Dispose();

    private async Task<T?> GetOrLoadJsonCoreAsync<T>(
        string key, Func<CancellationToken, Task<T?>> loader, TimeSpan ttl, IEnumerable<string>? tags, LeasedReadOptions? options,
        Func<T, byte[]> serialize, Func<byte[], T?> deserialize, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(loader);
        // A loaded value is handed back as loaded; only a cached one is deserialized.
        var loaded = false;
        T? value = default;
        var raw = await GetOrLoadCoreAsync(
            key,
            async ct =>
            {
                value = await loader(ct).ConfigureAwait(false);
                loaded = true;
                return value is null ? RedisValue.Null : (RedisValue)serialize(value);
            },
            ttl,
            tags,
            options,
            cancellationToken).ConfigureAwait(false);
        return loaded ? value : raw.IsNull ? default : deserialize((byte[])raw!);
    }

    private async Task<RedisValue> GetOrLoadCoreAsync(
        string key, Func<CancellationToken, Task<RedisValue>> load, TimeSpan ttl, IEnumerable<string>? tags, LeasedReadOptions? options, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (ttl < TimeSpan.FromMilliseconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(ttl), ttl, "The TTL must be at least 1 ms.");
        }

        // Everything is checked before the first command, so a bad key or tag changes nothing in Redis.
        var tagList = tags?.ToArray() ?? [];
        foreach (var tag in tagList)
        {
            ArgumentException.ThrowIfNullOrEmpty(tag, nameof(tags));
        }

        RedisKey cacheKey = _prefix + key;
        RedisKey leaseKey = LeaseProtocol.LeaseKey(_prefix + key);
        var after = options?.AfterLsn is { } lsn ? AppliedPosition.Parse(lsn, nameof(options)) : (ulong?)null;

        // The applied position is read before the key (never together: in a cluster they live on different nodes): once
        // it is seen at or past the writer's LSN, the worker's deletes for that write ran before this read of the key.
        if (after is { } written && !await IsAppliedAsync(written, cancellationToken).ConfigureAwait(false))
        {
            _metrics.ReadsBypassed.Add(1);
            return await load(cancellationToken).ConfigureAwait(false);
        }

        var cached = await _database.StringGetAsync(cacheKey).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!cached.IsNull)
        {
            return cached;
        }

        var token = Guid.NewGuid().ToString("N");
        for (var waits = 0; ; waits++)
        {
            if (await _database.StringSetAsync(leaseKey, token, _leaseTime, When.NotExists).WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                return await LoadWithLeaseAsync(key, cacheKey, leaseKey, token, load, ttl, tagList, cancellationToken).ConfigureAwait(false);
            }

            if (waits == _maxLeaseWaits)
            {
                break;
            }

            // Another reader is loading this key: its populate is likely to land within a few pauses.
            _metrics.LeaseWaits.Add(1);
            await Task.Delay(_leaseWaitDelay, _time, cancellationToken).ConfigureAwait(false);
            cached = await _database.StringGetAsync(cacheKey).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (!cached.IsNull)
            {
                return cached;
            }

            // Still missing: the holder may have been refused, found nothing, or died; the next turn tries the lease again.
        }

        _metrics.LoadsWithoutPopulate.Add(1);
        return await load(cancellationToken).ConfigureAwait(false);
    }

    private async Task<RedisValue> LoadWithLeaseAsync(
        string key, RedisKey cacheKey, RedisKey leaseKey, string token, Func<CancellationToken, Task<RedisValue>> load, TimeSpan ttl,
        string[] tags, CancellationToken cancellationToken)
    {
        RedisValue value;
        try
        {
            // Registered before the database read, so a tag invalidation that comes after the read finds the key
            // (and deletes its lease). Members are keys without the prefix: the worker adds it.
            if (tags.Length > 0)
            {
                await Task.WhenAll(tags.Select(tag => _database.SetAddAsync(_prefix + LeaseProtocol.TagSetPrefix + tag, key)))
                    .WaitAsync(cancellationToken).ConfigureAwait(false);
            }

            value = await load(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await ReleaseAsync(leaseKey, token).ConfigureAwait(false);
            throw;
        }

        if (value.IsNull)
        {
            await ReleaseAsync(leaseKey, token).ConfigureAwait(false);
            return value;
        }

        var stored = await _database.ScriptEvaluateAsync(
            LeaseProtocol.PopulateScript,
            [leaseKey, cacheKey],
            [token, value, (long)Math.Ceiling(ttl.TotalMilliseconds)]).WaitAsync(cancellationToken).ConfigureAwait(false);
        (((long)stored == 1) ? _metrics.PopulatesStored : _metrics.PopulatesRefused).Add(1);
        return value;
    }

    /// <summary>Whether this region's applied position is at or past <paramref name="lsn"/> (an absent or unreadable one is not).</summary>
    private async Task<bool> IsAppliedAsync(ulong lsn, CancellationToken cancellationToken)
    {
        var applied = await _database.StringGetAsync(_appliedKey).WaitAsync(cancellationToken).ConfigureAwait(false);
        return AppliedPosition.TryParse((string?)applied, out var position) && position >= lsn;
    }

    /// <summary>Ends the reader's own lease early so waiting readers need not wait for it to expire; best effort.</summary>
    private async Task ReleaseAsync(RedisKey leaseKey, string token)
    {
        try
        {
            await _database.ScriptEvaluateAsync(LeaseProtocol.ReleaseScript, [leaseKey], [token]).ConfigureAwait(false);
        }
        catch (RedisException)
        {
            // The lease expires by itself; the caller's own outcome (a value or an exception) matters more.
        }
    }
}
