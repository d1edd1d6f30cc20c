using Invalidator.IntegrationTests.Infrastructure.Redis;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Infrastructure;

/// <summary>
/// One real Redis server for tests that need nothing else (the client library, the region invalidator alone), in a
/// collection of its own so they run beside the Kafka and Postgres collections. Tests own their key prefixes.
/// </summary>
public sealed class RedisFixture : IAsyncLifetime
{
    private RedisServers? _servers;
    private ConnectionMultiplexer? _connection;

    public RedisServers Servers => _servers ?? throw new InvalidOperationException("The fixture is not initialized");

    public string ConnectionString => Servers.ConnectionString(0);

    /// <summary>A shared connection for the tests' own reads and writes.</summary>
    public IDatabase Database => (_connection ?? throw new InvalidOperationException("The fixture is not initialized")).GetDatabase();

    public async Task InitializeAsync()
    {
        _servers = await RedisServers.StartNewAsync(1).ConfigureAwait(false);
        _connection = await _servers.ConnectAsync(0).ConfigureAwait(false);
    }

    public async Task DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        if (_servers is not null)
        {
            await _servers.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Tests on the single Redis server: <c>[Collection(RedisCollection.Name)]</c>.</summary>
[CollectionDefinition(Name)]
public sealed class RedisCollection : ICollectionFixture<RedisFixture>
{
    public const string Name = "redis";
}
