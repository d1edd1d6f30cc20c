using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Regions;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>
/// A name the region's server refuses for good poisons only itself: the rest of the batch is deleted, and the region
/// returns the name with the server's error. On the real server, so the error lines are Redis's own.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class RefusedNamesTests(ServersFixture servers)
{
    [Fact]
    public async Task A_tag_whose_set_is_a_string_is_refused_alone_with_WRONGTYPE_and_the_rest_of_the_batch_is_deleted()
    {
        var prefix = ServersFixture.UniqueName("refused") + ":";
        using var connection = await servers.Redis.ConnectAsync(ServersFixture.East);
        var db = connection.GetDatabase();
        await db.StringSetAsync(prefix + "tag:label:victim", "a string where a tag set belongs");
        await SetAsync(db, prefix, "t:1", "t:2", "m:1", "m:2");
        await db.SetAddAsync(prefix + "tag:label:ok", ["m:1", "m:2"]);
        using var region = new TestRegion(servers.RedisConnectionString("east"), prefix, configure: QuickRetries);

        var result = await region.Region.ApplyAsync(["t:1", "t:2"], ["label:victim", "label:ok"], CancellationToken.None);

        var refused = Assert.Single(result.RefusedNames);
        Assert.Equal(new RefusedName("label:victim", true, refused.Error), refused);
        Assert.StartsWith("WRONGTYPE ", refused.Error, StringComparison.Ordinal);
        Assert.Equal(0, await ExistingAsync(db, prefix, "t:1", "t:2", "m:1", "m:2", "tag:label:ok"));
        Assert.True(await db.KeyExistsAsync(prefix + "tag:label:victim"), "the refused name itself is left as it is");
        Assert.Equal(4, result.KeysFound);
    }

    /// <summary>The control: with every Redis error taken as transient (as before), the same batch fails whole after its retries and nothing of it is deleted.</summary>
    [Fact]
    public async Task Control_with_the_old_classification_the_whole_batch_fails_and_nothing_is_deleted()
    {
        var prefix = ServersFixture.UniqueName("refused-control") + ":";
        using var connection = await servers.Redis.ConnectAsync(ServersFixture.East);
        var db = connection.GetDatabase();
        await db.StringSetAsync(prefix + "tag:label:victim", "a string");
        await SetAsync(db, prefix, "t:1", "t:2");
        using var region = new TestRegion(servers.RedisConnectionString("east"), prefix, configure: QuickRetries, errors: LegacyRedisErrors.Instance);

        var failure = await Assert.ThrowsAsync<RegionApplyException>(() => region.Region.ApplyAsync(["t:1", "t:2"], ["label:victim"], CancellationToken.None));

        Assert.Equal(3, failure.Attempts); // retried as if it could pass
        Assert.Contains("WRONGTYPE", failure.Message, StringComparison.Ordinal);
        Assert.Equal(2, await ExistingAsync(db, prefix, "t:1", "t:2"));
    }

    /// <summary>
    /// A refused delete command of many keys (an ACL user without access to one of them: NOPERM) is sent again name by
    /// name: the keys the server accepts are deleted, the one it refuses is returned with its error.
    /// </summary>
    [Fact]
    public async Task A_refused_delete_command_is_retried_name_by_name_and_only_the_refused_key_is_poisoned()
    {
        var prefix = ServersFixture.UniqueName("noperm") + ":";
        var user = ServersFixture.UniqueName("inv");
        using var admin = await servers.Redis.ConnectAsync(ServersFixture.East);
        var db = admin.GetDatabase();
        // Its keys and their lease keys ({K}:lease: a dead-lettered batch deletes every key's lease key).
        await db.ExecuteAsync("ACL", "SETUSER", user, "on", ">secret", $"~{prefix}ok:*", $"~{{{prefix}ok:*", "+@all");
        try
        {
            await SetAsync(db, prefix, "ok:1", "ok:2", "ok:3", "secret:1");
            var endpoint = servers.RedisConnectionString("east");
            using var region = new TestRegion($"{endpoint},user={user},password=secret", prefix, configure: QuickRetries);

            var result = await region.Region.ApplyAsync(["ok:1", "ok:2", "secret:1", "ok:3"], [], CancellationToken.None);

            var refused = Assert.Single(result.RefusedNames);
            Assert.Equal("secret:1", refused.Name);
            Assert.False(refused.IsTag);
            Assert.StartsWith("NOPERM ", refused.Error, StringComparison.Ordinal);
            Assert.Equal(0, await ExistingAsync(db, prefix, "ok:1", "ok:2", "ok:3"));
            Assert.Equal(1, await ExistingAsync(db, prefix, "secret:1"));
            Assert.Equal(3, result.KeysFound);
        }
        finally
        {
            await db.ExecuteAsync("ACL", "DELUSER", user);
        }
    }

    private static void QuickRetries(Invalidator.Worker.Options.RegionOptions region)
    {
        region.Resilience.MaxRetryAttempts = 2;
        region.Resilience.BaseDelay = TimeSpan.FromMilliseconds(20);
        region.Resilience.MaxDelay = TimeSpan.FromMilliseconds(50);
    }

    private static Task SetAsync(IDatabase db, string prefix, params string[] keys) =>
        Task.WhenAll(keys.Select(k => db.StringSetAsync(prefix + k, "cached")));

    private static async Task<int> ExistingAsync(IDatabase db, string prefix, params string[] keys) =>
        (await Task.WhenAll(keys.Select(k => db.KeyExistsAsync(prefix + k)))).Count(e => e);
}
