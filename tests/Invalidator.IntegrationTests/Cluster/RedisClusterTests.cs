using System.Diagnostics.Metrics;
using Invalidator.Client;
using Invalidator.Client.Tests;
using Invalidator.Core.Planning;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Regions;
using Invalidator.RaceHarness;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Cluster;

/// <summary>
/// The worker's region code and the client on a real three-master Redis Cluster: keys, tag members and lease keys
/// spread over many slots are all deleted, no command crosses slots, a lease key shares its key's slot, and the
/// guarded populate works.
/// </summary>
[Collection(RedisClusterCollection.Name)]
public sealed class RedisClusterTests(RedisClusterFixture fixture) : IAsyncLifetime
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);

    private readonly string _prefix = ServersFixture.UniqueName("cluster") + ":";
    private ConnectionMultiplexer? _connection;

    private RedisCluster Cluster => fixture.Cluster;

    private IDatabase Db => _connection!.GetDatabase();

    public async Task InitializeAsync() => _connection = await Cluster.ConnectAsync();

    public async Task DisposeAsync() => await _connection!.DisposeAsync();

    [Fact]
    public async Task Keys_tag_members_and_lease_keys_over_many_slots_are_all_deleted_and_no_command_crosses_slots()
    {
        // A region configured with one seed node: StackExchange.Redis discovers the other masters from it.
        using var region = new TestRegion(Cluster.SeedNode(0), _prefix, keysPerCommand: 7);
        var leasedKeys = Enumerable.Range(0, 1500).Select(i => $"item:{i}").Concat(Enumerable.Range(0, 40).Select(i => $"user:{{{i}}}:profile")).ToList();
        var tags = Enumerable.Range(0, 6).Select(t => $"group:{t}").ToList();
        var members = tags.ToDictionary(t => t, t => Enumerable.Range(0, 100).Select(i => $"member:{t}:{i}").ToList());
        var plainKeys = Enumerable.Range(0, 300).Select(i => $"plain:{i}").ToList();
        var allMembers = members.Values.SelectMany(m => m).ToList();
        var cached = leasedKeys.Concat(allMembers).Concat(plainKeys).Select(k => _prefix + k).ToList();

        await Task.WhenAll(cached.Select(k => Db.StringSetAsync(k, "cached", Ttl)));
        await Task.WhenAll(leasedKeys.Concat(allMembers).Concat(plainKeys).Select(k => Db.StringSetAsync(LeaseProtocol.LeaseKey(_prefix + k), "token", Ttl)));
        await Task.WhenAll(members.Select(m => Db.SetAddAsync(_prefix + "tag:" + m.Key, m.Value.Select(v => (RedisValue)v).ToArray())));
        Assert.True(cached.Select(ClusterSlot.Of).Distinct().Count() > 1_500, "the names cover well over a thousand slots");
        for (var node = 0; node < Cluster.Count; node++)
        {
            Assert.True(long.Parse((await Cluster.RedisCliAsync(node, "DBSIZE")).Trim(), System.Globalization.CultureInfo.InvariantCulture) > 100,
                $"node {node} holds a share of the keys");
        }

        var crossSlotBefore = await Cluster.CrossSlotErrorsAsync();
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, leasedKeys, tags, []) { Leases = true });
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, plainKeys, [], []));
        var result = await region.Region.ApplyAsync(batch, CancellationToken.None);

        Assert.Equal(cached.Count, result.KeysDeleted);
        Assert.Empty(await ExistingAsync(cached));
        Assert.Empty(await ExistingAsync(leasedKeys.Concat(allMembers).Select(k => LeaseProtocol.LeaseKey(_prefix + k))));
        Assert.Empty(await ExistingAsync(tags.Select(t => _prefix + "tag:" + t)));
        Assert.Equal(plainKeys.Count, (await ExistingAsync(plainKeys.Select(k => LeaseProtocol.LeaseKey(_prefix + k)))).Count);
        Assert.Equal(crossSlotBefore, await Cluster.CrossSlotErrorsAsync());
    }

    [Fact]
    public async Task The_crossslot_check_sees_a_multi_key_command_that_crosses_slots()
    {
        // The control for the test above: the counter it reads does move when a command crosses slots.
        var before = await Cluster.CrossSlotErrorsAsync();
        var (_, output) = await Cluster.TryRedisCliAsync(0, "UNLINK", _prefix + "a", _prefix + "b");

        Assert.Contains("CROSSSLOT", output, StringComparison.Ordinal);
        Assert.Equal(before + 1, await Cluster.CrossSlotErrorsAsync());
    }

    [Theory]
    [InlineData("customer:7")]
    [InlineData("customer:email:ann@example.com")]
    [InlineData("user:{42}:profile")]
    [InlineData("{eu}:customer:7")]
    [InlineData("}{x}:y")]
    [InlineData("ключ:7")]
    public async Task A_lease_key_lands_in_its_keys_slot_as_the_server_computes_it(string key)
    {
        foreach (var name in new[] { key, _prefix + key, "{tenant-3}:" + key })
        {
            Assert.Equal(await Cluster.KeySlotAsync(name), await Cluster.KeySlotAsync(LeaseProtocol.LeaseKey(name)));
        }
    }

    [Fact]
    public async Task The_clients_guarded_populate_stores_refuses_and_registers_tags_across_slots()
    {
        using var meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var factory = meters.GetRequiredService<IMeterFactory>();
        using var counters = new CounterTotals(factory);
        using var cache = new LeasedCache(Db, new LeasedCacheOptions { KeyPrefix = _prefix }, factory);
        using var region = new TestRegion(Cluster.ConnectionString, _prefix);
        var crossSlotBefore = await Cluster.CrossSlotErrorsAsync();
        string[] tags = ["tenant:3", "plan:gold", "region:eu"];

        var leaseDuringLoad = false;
        var registeredBeforeLoad = false;
        var stored = await cache.GetOrLoadAsync(
            "customer:7",
            async _ =>
            {
                leaseDuringLoad = await Db.KeyExistsAsync(LeaseProtocol.LeaseKey(_prefix + "customer:7"));
                registeredBeforeLoad = (await Task.WhenAll(tags.Select(t => Db.SetContainsAsync(_prefix + "tag:" + t, "customer:7")))).All(c => c);
                return "Ann";
            },
            Ttl,
            tags);
        Assert.Equal("Ann", (string?)await Db.StringGetAsync(_prefix + "customer:7"));

        var refused = await cache.GetOrLoadAsync(
            "customer:8",
            async _ =>
            {
                // The worker's tag invalidation between the reader's database read and its populate.
                var batch = new InvalidationBatch();
                batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, [], ["tenant:3"], []) { Leases = true });
                await region.Region.ApplyAsync(batch, CancellationToken.None);
                return "old";
            },
            Ttl,
            tags);

        Assert.Equal("Ann", stored);
        Assert.True(leaseDuringLoad && registeredBeforeLoad, "the lease was held and the tags registered before the load");
        Assert.Equal("old", refused);
        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:8"), "the raced populate was refused");
        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:7"), "customer:7, also tagged tenant:3, went with the tag");
        Assert.Equal(1, counters["invalidator_client_populates_stored"]);
        Assert.Equal(1, counters["invalidator_client_populates_refused"]);
        Assert.Equal(crossSlotBefore, await Cluster.CrossSlotErrorsAsync());
    }

    private async Task<List<string>> ExistingAsync(IEnumerable<string> names)
    {
        var list = names.ToList();
        var exists = await Task.WhenAll(list.Select(n => Db.KeyExistsAsync(n)));
        return list.Where((_, i) => exists[i]).ToList();
    }
}
