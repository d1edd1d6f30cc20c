using Invalidator.Client;
using Invalidator.Core.Planning;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Regions;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Regions;

/// <summary>
/// Many generated batches against the real server: every distinct key and tag member is deleted (with its lease key where a
/// lease rule planned it) and counted once, whether the region takes the batch's own key set as it is (no tags) or builds
/// its set of names (tags whose members repeat keys), at command limits that cut the batch many ways.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class GeneratedBatchesTests(ServersFixture servers)
{
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Every_name_of_a_generated_batch_is_deleted_and_counted_once(bool withTags)
    {
        var random = new Random(withTags ? 21 : 12);
        using var connection = await servers.Redis.ConnectAsync(ServersFixture.East);
        var db = connection.GetDatabase();
        for (var round = 0; round < 40; round++)
        {
            var prefix = ServersFixture.UniqueName("generated") + ":";
            var batch = new InvalidationBatch();
            var plans = random.Next(1, 30);
            for (var p = 0; p < plans; p++)
            {
                // Ids from a small range, so plans repeat each other's keys; hash-tagged keys can have lease keys.
                var keys = Enumerable.Range(0, random.Next(0, 5)).Select(_ => random.Next(3) == 0 ? $"user:{{{random.Next(40)}}}:profile" : $"customer:{random.Next(60)}").ToList();
                var tags = withTags ? Enumerable.Range(0, random.Next(0, 2)).Select(_ => $"tenant:{random.Next(5)}").ToList() : [];
                batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, keys, tags, []) { Leases = random.Next(3) == 0 });
            }

            // Tag members: some are keys of the batch too, some only members.
            var members = batch.Tags.ToDictionary(t => t, _ => Enumerable.Range(0, random.Next(1, 6)).Select(_ => random.Next(2) == 0 ? $"customer:{random.Next(60)}" : $"member:{random.Next(30)}").Distinct().ToList());
            var names = batch.Keys.Concat(members.Values.SelectMany(m => m)).Distinct().ToList();
            var leaseNames = batch.Keys.Where(batch.LeaseKeys.Contains)
                .Concat(members.Where(m => batch.LeaseTags.Contains(m.Key)).SelectMany(m => m.Value))
                .Select(n => LeaseProtocol.TryGetLeaseKey(prefix + n, out var lease) ? lease : null).OfType<string>().Distinct().ToList();
            await Task.WhenAll(names.Select(n => db.StringSetAsync(prefix + n, "cached")).Concat(leaseNames.Select(l => db.StringSetAsync(l, "lease"))));
            foreach (var (tag, tagMembers) in members)
            {
                await db.SetAddAsync(prefix + TagSets.SetName(tag), [.. tagMembers.Select(m => (RedisValue)m)]);
            }

            using var region = new TestRegion(servers.RedisConnectionString("east"), prefix, keysPerCommand: random.Next(1, 12));
            var result = await region.Region.ApplyAsync(batch, CancellationToken.None);

            Assert.Equal(names.Count, result.KeysDeleted);
            Assert.Equal(names.Count + leaseNames.Count, result.KeysFound); // UNLINK counts the lease keys it removed too
            Assert.Empty(result.RefusedNames);
            var left = await Task.WhenAll(names.Select(n => prefix + n).Concat(leaseNames).Select(k => db.KeyExistsAsync(k)));
            Assert.DoesNotContain(true, left);
        }
    }

    /// <summary>The control: a name that is not deleted is seen, so the test above can fail.</summary>
    [Fact]
    public async Task Control_a_key_outside_the_batch_stays()
    {
        var prefix = ServersFixture.UniqueName("generated-control") + ":";
        using var connection = await servers.Redis.ConnectAsync(ServersFixture.East);
        var db = connection.GetDatabase();
        await db.StringSetAsync(prefix + "customer:1", "cached");
        await db.StringSetAsync(prefix + "customer:2", "cached");
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, ["customer:1"], [], []));
        using var region = new TestRegion(servers.RedisConnectionString("east"), prefix);

        var result = await region.Region.ApplyAsync(batch, CancellationToken.None);

        Assert.Equal(1, result.KeysFound);
        Assert.True(await db.KeyExistsAsync(prefix + "customer:2"));
    }
}
