using Invalidator.IntegrationTests.Infrastructure.Kafka;
using Invalidator.IntegrationTests.Infrastructure.Redis;

namespace Invalidator.IntegrationTests.Infrastructure;

/// <summary>
/// Real servers shared by every test in the "servers" collection: one Kafka broker and two Redis servers,
/// the regions "east" and "west". Started once, ended (processes killed) after the last test. Tests share
/// them safely by owning their topics, groups and key prefixes: see <see cref="UniqueName"/>.
/// </summary>
public sealed class ServersFixture : IAsyncLifetime
{
    public const int East = 0;
    public const int West = 1;

    private KafkaBroker? _kafka;
    private RedisServers? _redis;

    /// <summary>Region names in server-index order: <c>Regions[East] == "east"</c>.</summary>
    public IReadOnlyList<string> Regions { get; } = ["east", "west"];

    public KafkaBroker Kafka => _kafka ?? throw new InvalidOperationException("The fixture is not initialized");

    public RedisServers Redis => _redis ?? throw new InvalidOperationException("The fixture is not initialized");

    /// <summary>"host:port" of a region's Redis server by region name ("east" or "west").</summary>
    public string RedisConnectionString(string region) => Redis.ConnectionString(RegionIndex(region));

    public int RegionIndex(string region)
    {
        for (var i = 0; i < Regions.Count; i++)
        {
            if (string.Equals(Regions[i], region, StringComparison.Ordinal))
            {
                return i;
            }
        }

        throw new ArgumentException($"Unknown region '{region}'; known: {string.Join(", ", Regions)}", nameof(region));
    }

    /// <summary>A name no other test uses, valid as a Kafka topic, group id or Redis key prefix.</summary>
    public static string UniqueName(string prefix) => $"{prefix}-{Guid.NewGuid():N}"[..(prefix.Length + 17)];

    public async Task InitializeAsync()
    {
        var kafka = KafkaBroker.StartNewAsync();
        var redis = RedisServers.StartNewAsync(Regions.Count);
        try
        {
            await Task.WhenAll(kafka, redis).ConfigureAwait(false);
        }
        finally
        {
            // Keep whatever started so DisposeAsync ends it even if the other failed.
            _kafka = kafka.IsCompletedSuccessfully ? kafka.Result : null;
            _redis = redis.IsCompletedSuccessfully ? redis.Result : null;
        }
    }

    public async Task DisposeAsync()
    {
        if (_kafka is not null)
        {
            await _kafka.DisposeAsync().ConfigureAwait(false);
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync().ConfigureAwait(false);
        }
    }
}

/// <summary>Tests that use the shared servers: <c>[Collection(ServersCollection.Name)]</c>.</summary>
[CollectionDefinition(Name)]
public sealed class ServersCollection : ICollectionFixture<ServersFixture>
{
    public const string Name = "servers";
}
