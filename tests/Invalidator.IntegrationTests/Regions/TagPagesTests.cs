using Invalidator.Client;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Regions.Targets;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>A tag set larger than a page of SSCAN: every member and its lease key are deleted, page after page, and the set is emptied.</summary>
[Collection(ServersCollection.Name)]
public sealed class TagPagesTests(ServersFixture servers)
{
    [Fact]
    public async Task A_tag_of_several_pages_is_deleted_whole_with_its_members_lease_keys_beside_a_small_tag_and_a_refused_one()
    {
        var prefix = ServersFixture.UniqueName("pages") + ":";
        using var connection = await servers.Redis.ConnectAsync(ServersFixture.East);
        var db = connection.GetDatabase();
        var members = Enumerable.Range(0, RedisTarget.ScanPageSize * 5 / 2).Select(i => $"member:{i}").ToList();
        await db.SetAddAsync(prefix + "tag:big", [.. members.Select(m => (StackExchange.Redis.RedisValue)m)]);
        await db.SetAddAsync(prefix + "tag:small", "other:1");
        await db.StringSetAsync(prefix + "tag:victim", "a string");
        await Task.WhenAll(members.Append("other:1").SelectMany(m => new[] { prefix + m, LeaseProtocol.LeaseKey(prefix + m) }).Select(k => db.StringSetAsync(k, "x")));
        using var region = new TestRegion(servers.RedisConnectionString("east"), prefix);

        // The dead-letter overload: every key's lease key too.
        var result = await region.Region.ApplyAsync([], ["big", "small", "victim"], CancellationToken.None);

        Assert.Equal("victim", Assert.Single(result.RefusedNames).Name);
        Assert.Equal(members.Count + 1, result.KeysDeleted);
        Assert.Equal(2 * (members.Count + 1), result.KeysFound); // each member and its lease key were cached
        Assert.Equal(0, await db.SetLengthAsync(prefix + "tag:big"));
        Assert.False(await db.KeyExistsAsync(prefix + "tag:small"));
        var left = await Task.WhenAll(members.Select(m => db.KeyExistsAsync(prefix + m)));
        Assert.DoesNotContain(true, left);
    }
}
