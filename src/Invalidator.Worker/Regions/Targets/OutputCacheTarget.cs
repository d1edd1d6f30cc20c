using Invalidator.Worker.Options;
using Microsoft.AspNetCore.OutputCaching;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Invalidator.Worker.Regions.Targets;

/// <summary>
/// Target <c>OutputCache</c>: ASP.NET Core's Redis output-cache store (Microsoft.AspNetCore.OutputCaching.StackExchangeRedis)
/// set up like the applications' (its <c>InstanceName</c>), on the region's connection. Every tag, and every key taken
/// as a tag, is the store's <c>EvictByTagAsync</c>: it deletes each response tagged with it. Leases do not apply.
/// </summary>
internal sealed class OutputCacheTarget : IRegionTarget
{
    private const int MaxInFlight = 256;

    private readonly IConnectionMultiplexer _connection;
    private readonly ServiceProvider _services;
    private readonly IOutputCacheStore _store;
    private long _connectionFailures;

    public OutputCacheTarget(OutputCacheTargetOptions options, IConnectionMultiplexer connection)
    {
        _connection = connection;
        (_services, _store) = NewStore(options, connection);
        _connection.ConnectionFailed += OnConnectionFailed;
        Description = $"output cache, instance name '{options.InstanceName}'";
    }

    public RegionTarget Kind => RegionTarget.OutputCache;

    /// <summary>
    /// The applications' Redis output-cache store on <paramref name="connection"/> (the target's, and the probe's for its
    /// canaries), with the services that own it. The store is internal to its package: AddStackExchangeRedisOutputCache
    /// is the way to make one.
    /// </summary>
    internal static (ServiceProvider Services, IOutputCacheStore Store) NewStore(OutputCacheTargetOptions options, IConnectionMultiplexer connection)
    {
        ArgumentNullException.ThrowIfNull(options);
        var services = new ServiceCollection()
            .AddStackExchangeRedisOutputCache(o =>
            {
                o.InstanceName = options.InstanceName.Length == 0 ? null : options.InstanceName;
                o.ConnectionMultiplexerFactory = () => Task.FromResult(connection);
            })
            .BuildServiceProvider();
        return (services, services.GetRequiredService<IOutputCacheStore>());
    }

    public bool CountsFound => false;

    public string Description { get; }

    public async Task<RegionApplyResult> ApplyOnceAsync(
        IReadOnlyCollection<string> keys, IReadOnlyCollection<string> tags, LeaseSelection leases, CancellationToken cancellationToken)
    {
        var names = new HashSet<string>(tags, StringComparer.Ordinal);
        names.UnionWith(keys);
        var failuresBefore = Interlocked.Read(ref _connectionFailures);
        await Parallel.ForEachAsync(
            names,
            new ParallelOptions { MaxDegreeOfParallelism = MaxInFlight, CancellationToken = cancellationToken },
            (tag, ct) => _store.EvictByTagAsync(tag, ct))
            .ConfigureAwait(false);

        // The store sends its deletes fire-and-forget after reading each page of the tag's set, so its eviction returns
        // before the server has run the last of them. A PING behind them on each primary's connection returns after
        // they ran; a connection lost meanwhile may have lost some, and the attempt is repeated (evictions are idempotent).
        await Task.WhenAll(_connection.GetServers().Where(s => !s.IsReplica).Select(s => s.PingAsync())).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (Interlocked.Read(ref _connectionFailures) != failuresBefore)
        {
            throw new RedisConnectionException(ConnectionFailureType.SocketFailure, CommandFlags.None, "A Redis connection failed while the output cache's evictions were sent; some may be lost, so they are sent again", null, CommandStatus.Unknown);
        }

        return new RegionApplyResult(names.Count, 0);
    }

    public void Dispose()
    {
        _connection.ConnectionFailed -= OnConnectionFailed;
        _services.Dispose();
    }

    private void OnConnectionFailed(object? sender, ConnectionFailedEventArgs e)
    {
        if (e.ConnectionType == ConnectionType.Interactive)
        {
            Interlocked.Increment(ref _connectionFailures);
        }
    }
}
