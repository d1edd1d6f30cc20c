using Invalidator.IntegrationTests.Infrastructure;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>Reads and writes a test's keys (under its prefix) in every region's Redis.</summary>
public sealed class RegionKeys
{
    private RegionKeys(IDatabase[] regions, string prefix)
    {
        Regions = regions;
        Prefix = prefix;
    }

    public IDatabase[] Regions { get; }

    public string Prefix { get; }

    public static async Task<RegionKeys> ConnectAsync(ServersFixture servers, string prefix)
    {
        var databases = new IDatabase[servers.Regions.Count];
        for (var i = 0; i < databases.Length; i++)
        {
            databases[i] = (await servers.Redis.ConnectAsync(i)).GetDatabase();
        }

        return new RegionKeys(databases, prefix);
    }

    /// <summary>Populates keys as a cache-aside reader would.</summary>
    public Task SetAsync(IEnumerable<string> keys) => SetAsync(keys, Regions);

    public Task SetAsync(IEnumerable<string> keys, params IDatabase[] regions) => CachedKeys.SetAsync(regions, Prefix, keys);

    public Task<bool> NoneExistAsync(IEnumerable<string> keys) => NoneExistAsync(keys, Regions);

    public Task<bool> NoneExistAsync(IEnumerable<string> keys, params IDatabase[] regions) => CachedKeys.NoneExistAsync(regions, Prefix, keys);

    public Task<bool> AllExistAsync(IEnumerable<string> keys) => CachedKeys.AllExistAsync(Regions, Prefix, keys);

    /// <summary>Keys of <paramref name="keys"/> still present in one region.</summary>
    public async Task<List<string>> RemainingAsync(IEnumerable<string> keys, IDatabase region)
    {
        var list = keys.ToList();
        var exists = await Task.WhenAll(list.Select(key => region.KeyExistsAsync(Prefix + key)));
        return list.Where((_, i) => exists[i]).ToList();
    }
}
