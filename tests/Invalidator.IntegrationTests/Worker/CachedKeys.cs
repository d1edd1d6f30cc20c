using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>A test's cached keys (under its prefix) in some regions' Redis: populate them, and check what is left.</summary>
public static class CachedKeys
{
    /// <summary>Populates keys as a cache-aside reader would.</summary>
    public static async Task SetAsync(IDatabase[] regions, string prefix, IEnumerable<string> keys)
    {
        var list = keys.ToList();
        foreach (var db in regions)
        {
            await Task.WhenAll(list.Select(key => db.StringSetAsync(prefix + key, "cached")));
        }
    }

    public static async Task<bool> NoneExistAsync(IDatabase[] regions, string prefix, IEnumerable<string> keys)
    {
        var list = keys.ToList();
        foreach (var db in regions)
        {
            if ((await Task.WhenAll(list.Select(key => db.KeyExistsAsync(prefix + key)))).Any(e => e))
            {
                return false;
            }
        }

        return true;
    }

    public static async Task<bool> AllExistAsync(IDatabase[] regions, string prefix, IEnumerable<string> keys)
    {
        var list = keys.ToList();
        foreach (var db in regions)
        {
            if (!(await Task.WhenAll(list.Select(key => db.KeyExistsAsync(prefix + key)))).All(e => e))
            {
                return false;
            }
        }

        return true;
    }
}
