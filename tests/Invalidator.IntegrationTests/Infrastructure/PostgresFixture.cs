using Invalidator.IntegrationTests.Infrastructure.Postgres;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure;

/// <summary>
/// Real servers for the direct-source tests: one PostgreSQL (logical WAL) and two Redis servers, the regions
/// "pgeast" and "pgwest". A collection of its own, so these tests run beside the Kafka collection instead of
/// after it; each test owns a database, publication, slot and key prefix.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime, IDirectServers
{
    private PostgresServer? _postgres;
    private RedisServers? _redis;

    /// <summary>
    /// Region names in server-index order. Not the Kafka collection's "east"/"west": the collections run in parallel in
    /// one process, and a worker's /metrics shows every in-process meter named Invalidator, so equal region names
    /// would mix two workers' region series.
    /// </summary>
    public IReadOnlyList<string> Regions { get; } = ["pgeast", "pgwest"];

    public PostgresServer Postgres => _postgres ?? throw new InvalidOperationException("The fixture is not initialized");

    public RedisServers Redis => _redis ?? throw new InvalidOperationException("The fixture is not initialized");

    public async Task InitializeAsync()
    {
        var postgres = PostgresServer.StartNewAsync();
        var redis = RedisServers.StartNewAsync(Regions.Count);
        try
        {
            await Task.WhenAll(postgres, redis).ConfigureAwait(false);
        }
        finally
        {
            // Keep whatever started so DisposeAsync ends it even if the other failed.
            _postgres = postgres.IsCompletedSuccessfully ? postgres.Result : null;
            _redis = redis.IsCompletedSuccessfully ? redis.Result : null;
        }
    }

    /// <summary>One database per region, for assertions.</summary>
    public async Task<IDatabase[]> ConnectRegionsAsync()
    {
        var databases = new IDatabase[Regions.Count];
        for (var i = 0; i < databases.Length; i++)
        {
            databases[i] = (await Redis.ConnectAsync(i).ConfigureAwait(false)).GetDatabase();
        }

        return databases;
    }

    public async Task DisposeAsync()
    {
        if (_postgres is not null)
        {
            await _postgres.DisposeAsync().ConfigureAwait(false);
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>What a direct-mode worker test runs on: a Postgres server (logical WAL) and a Redis server per region.</summary>
public interface IDirectServers
{
    /// <summary>Region names in server-index order, unique to the fixture (the in-process meters would mix equal names).</summary>
    IReadOnlyList<string> Regions { get; }

    PostgresServer Postgres { get; }

    RedisServers Redis { get; }
}

/// <summary>Tests that use the Postgres fixture: <c>[Collection(PostgresCollection.Name)]</c>.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "postgres";
}
