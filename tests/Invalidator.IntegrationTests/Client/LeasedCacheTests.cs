using System.Diagnostics.Metrics;
using System.Text.Json.Serialization;
using Invalidator.Client;
using Invalidator.Core.Planning;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Regions;
using Invalidator.RaceHarness;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Client;

/// <summary>The reader side of the lease protocol on a real Redis server, against the worker's real region invalidator.</summary>
[Collection(RedisCollection.Name)]
public sealed class LeasedCacheTests(RedisFixture redis) : IDisposable
{
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);

    private readonly string _prefix = ServersFixture.UniqueName("client") + ":";
    private readonly ServiceProvider _meters = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly List<IDisposable> _owned = [];

    private IDatabase Db => redis.Database;

    private (LeasedCache Cache, CounterTotals Counters) Cache(LeasedCacheOptions? options = null, TimeProvider? time = null)
    {
        var factory = _meters.GetRequiredService<IMeterFactory>();
        var counters = new CounterTotals(factory);
        options ??= new LeasedCacheOptions();
        options.KeyPrefix = _prefix;
        var cache = new LeasedCache(Db, options, factory, time);
        _owned.Add(cache);
        _owned.Add(counters);
        return (cache, counters);
    }

    private string LeaseKeyOf(string key) => LeaseProtocol.LeaseKey(_prefix + key);

    [Fact]
    public async Task A_miss_takes_the_lease_loads_stores_with_the_ttl_and_ends_the_lease_and_the_next_read_is_a_hit()
    {
        var (cache, counters) = Cache();
        var loads = 0;
        async Task<string?> Load(CancellationToken _)
        {
            loads++;
            // The lease is held while the database is read.
            Assert.False((await Db.StringGetAsync(LeaseKeyOf("customer:7"))).IsNull);
            return "Ann";
        }

        Assert.Equal("Ann", await cache.GetOrLoadAsync("customer:7", Load, Ttl));
        Assert.Equal("Ann", await cache.GetOrLoadAsync("customer:7", Load, Ttl));

        Assert.Equal(1, loads);
        Assert.Equal("Ann", (string?)await Db.StringGetAsync(_prefix + "customer:7"));
        var ttl = await Db.KeyTimeToLiveAsync(_prefix + "customer:7");
        Assert.True(ttl > TimeSpan.FromMinutes(4) && ttl <= Ttl, $"TTL {ttl}");
        Assert.False(await Db.KeyExistsAsync(LeaseKeyOf("customer:7")), "the populate ended the lease");
        Assert.Equal(1, counters["invalidator_client_populates_stored"]);
        Assert.Equal(0, counters["invalidator_client_populates_refused"]);
    }

    [Fact]
    public async Task Tags_are_registered_before_the_load_with_the_key_unprefixed_in_the_prefixed_tag_set()
    {
        var (cache, _) = Cache();
        var registeredBeforeLoad = false;

        await cache.GetOrLoadAsync(
            "customer:7",
            async _ =>
            {
                registeredBeforeLoad = await Db.SetContainsAsync(_prefix + "tag:tenant:3", "customer:7")
                    && await Db.SetContainsAsync(_prefix + "tag:customers", "customer:7");
                return "Ann";
            },
            Ttl,
            tags: ["tenant:3", "customers"]);

        Assert.True(registeredBeforeLoad);
    }

    [Fact]
    public async Task An_invalidation_by_the_worker_during_the_load_refuses_the_populate()
    {
        using var region = new TestRegion(redis.ConnectionString, _prefix, leasesForAll: true);
        var (cache, counters) = Cache();

        // The reader read the old row; the row changes and the worker deletes the key before the reader populates.
        var value = await cache.GetOrLoadAsync(
            "customer:7",
            async _ =>
            {
                await region.Region.ApplyAsync(Batch(leases: true, keys: ["customer:7"]), CancellationToken.None);
                return "old";
            },
            Ttl);

        Assert.Equal("old", value); // the caller still gets what it read
        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:7"), "the old value was not written back after the delete");
        Assert.Equal(1, counters["invalidator_client_populates_refused"]);
        Assert.Equal(0, counters["invalidator_client_populates_stored"]);
    }

    [Fact]
    public async Task A_tag_invalidation_during_the_load_deletes_the_members_lease_and_refuses_the_populate()
    {
        using var region = new TestRegion(redis.ConnectionString, _prefix);
        var (cache, counters) = Cache();

        await cache.GetOrLoadAsync(
            "customer:7",
            async _ =>
            {
                await region.Region.ApplyAsync(Batch(leases: true, tags: ["tenant:3"]), CancellationToken.None);
                return "old";
            },
            Ttl,
            tags: ["tenant:3"]);

        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:7"));
        Assert.Equal(1, counters["invalidator_client_populates_refused"]);
    }

    [Fact]
    public async Task Without_the_lease_key_delete_the_late_populate_writes_the_old_value_back()
    {
        // The control: a table without leases. The worker deletes K only, and the race leaves the old value cached.
        using var region = new TestRegion(redis.ConnectionString, _prefix);
        var (cache, counters) = Cache();

        await cache.GetOrLoadAsync(
            "customer:7",
            async _ =>
            {
                await region.Region.ApplyAsync(Batch(leases: false, keys: ["customer:7"]), CancellationToken.None);
                return "old";
            },
            Ttl);

        Assert.Equal("old", (string?)await Db.StringGetAsync(_prefix + "customer:7"));
        Assert.Equal(1, counters["invalidator_client_populates_stored"]);
    }

    [Fact]
    public async Task A_reader_that_finds_another_readers_lease_waits_a_bounded_number_of_times_then_loads_without_populating()
    {
        var (cache, counters) = Cache(new LeasedCacheOptions { MaxLeaseWaits = 3, LeaseWaitDelay = TimeSpan.FromMilliseconds(10) });
        await Db.StringSetAsync(LeaseKeyOf("customer:7"), "someone-else", TimeSpan.FromMinutes(1));
        var loads = 0;

        var value = await cache.GetOrLoadAsync("customer:7", _ => Task.FromResult<string?>($"loaded {++loads}"), Ttl);

        Assert.Equal("loaded 1", value);
        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:7"), "no populate without the lease");
        Assert.Equal("someone-else", (string?)await Db.StringGetAsync(LeaseKeyOf("customer:7")));
        Assert.Equal(3, counters["invalidator_client_lease_waits"]);
        Assert.Equal(1, counters["invalidator_client_loads_without_populate"]);
    }

    [Fact]
    public async Task A_waiting_reader_returns_the_value_the_lease_holder_populated_without_loading()
    {
        var time = new FakeTimeProvider();
        var (cache, counters) = Cache(new LeasedCacheOptions { LeaseWaitDelay = TimeSpan.FromMilliseconds(50) }, time);
        await Db.StringSetAsync(LeaseKeyOf("customer:7"), "holder", TimeSpan.FromMinutes(1));
        var loads = 0;

        var read = cache.GetOrLoadAsync("customer:7", _ => Task.FromResult<string?>($"loaded {++loads}"), Ttl);
        await Eventually.AssertAsync(() => counters["invalidator_client_lease_waits"] == 1, Deadline, "the reader waits behind the holder's lease");
        await Db.StringSetAsync(_prefix + "customer:7", "from the holder");
        // The counter rises before the reader registers its delay with the fake clock: one advance could come too
        // early and leave the delay waiting forever. Advance until the reader has looked again.
        await Eventually.AssertAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            return read.IsCompleted;
        }, Deadline, "the waiting reader looks again once its delay passed");

        Assert.Equal("from the holder", await read.WaitAsync(Deadline));
        Assert.Equal(0, loads);
    }

    [Fact]
    public async Task A_waiting_reader_takes_the_lease_once_the_holder_let_it_go_without_populating()
    {
        var (cache, counters) = Cache(new LeasedCacheOptions { LeaseWaitDelay = TimeSpan.FromMilliseconds(20), MaxLeaseWaits = 100 });
        await Db.StringSetAsync(LeaseKeyOf("customer:7"), "holder", TimeSpan.FromMilliseconds(100)); // the holder died

        Assert.Equal("mine", await cache.GetOrLoadAsync("customer:7", _ => Task.FromResult<string?>("mine"), Ttl));

        Assert.Equal("mine", (string?)await Db.StringGetAsync(_prefix + "customer:7"));
        Assert.True(counters["invalidator_client_lease_waits"] >= 1);
        Assert.Equal(1, counters["invalidator_client_populates_stored"]);
    }

    [Fact]
    public async Task A_failing_loader_gives_the_lease_back_and_the_error_to_the_caller()
    {
        var (cache, _) = Cache();

        await Assert.ThrowsAsync<TimeoutException>(() => cache.GetOrLoadAsync("customer:7", _ => Task.FromException<string?>(new TimeoutException("database")), Ttl));

        Assert.False(await Db.KeyExistsAsync(LeaseKeyOf("customer:7")), "the lease was released");
        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:7"));
    }

    [Fact]
    public async Task A_null_from_the_loader_is_returned_not_cached_and_gives_the_lease_back()
    {
        var (cache, counters) = Cache();

        Assert.Null(await cache.GetOrLoadAsync("customer:404", _ => Task.FromResult<string?>(null), Ttl));

        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:404"));
        Assert.False(await Db.KeyExistsAsync(LeaseKeyOf("customer:404")));
        Assert.Equal(0, counters["invalidator_client_populates_stored"]);
    }

    [Fact]
    public async Task A_lease_of_another_reader_is_never_released_by_this_one()
    {
        var (cache, _) = Cache();

        // The lease expired during a slow load and another reader took it: neither the refused populate nor the
        // release may touch the other reader's lease.
        await cache.GetOrLoadAsync(
            "customer:7",
            async _ =>
            {
                await Db.StringSetAsync(LeaseKeyOf("customer:7"), "next-reader", TimeSpan.FromMinutes(1));
                return "slow";
            },
            Ttl);
        Func<CancellationToken, Task<string?>> failing = async _ =>
        {
            await Db.StringSetAsync(LeaseKeyOf("customer:8"), "next-reader", TimeSpan.FromMinutes(1));
            throw new InvalidOperationException("failed");
        };
        await Assert.ThrowsAsync<InvalidOperationException>(() => cache.GetOrLoadAsync("customer:8", failing, Ttl));

        Assert.Equal("next-reader", (string?)await Db.StringGetAsync(LeaseKeyOf("customer:7")));
        Assert.Equal("next-reader", (string?)await Db.StringGetAsync(LeaseKeyOf("customer:8")));
        Assert.False(await Db.KeyExistsAsync(_prefix + "customer:7"));
    }

    [Fact]
    public async Task Bytes_and_json_values_round_trip_through_the_cache()
    {
        var (cache, _) = Cache();
        byte[] bytes = [0, 1, 2, 255];
        var customer = new CachedCustomer(7, "Ann");

        Assert.Equal(bytes, await cache.GetOrLoadAsync("bytes:1", _ => Task.FromResult<byte[]?>(bytes), Ttl));
        Assert.Equal(bytes, await cache.GetOrLoadAsync("bytes:1", _ => Task.FromResult<byte[]?>([9]), Ttl));
        Assert.Equal(customer, await cache.GetOrLoadJsonAsync("json:7", _ => Task.FromResult<CachedCustomer?>(customer), Ttl, TestJson.Default.CachedCustomer));
        Assert.Equal(customer, await cache.GetOrLoadJsonAsync("json:7", _ => Task.FromResult<CachedCustomer?>(null), Ttl, TestJson.Default.CachedCustomer));
        Assert.Equal("{\"Id\":7,\"Name\":\"Ann\"}", (string?)await Db.StringGetAsync(_prefix + "json:7"));
        Assert.Equal(customer, await cache.GetOrLoadJsonAsync<CachedCustomer>("json:7", _ => Task.FromResult<CachedCustomer?>(null), Ttl));
        Assert.Null(await cache.GetOrLoadJsonAsync("json:8", _ => Task.FromResult<CachedCustomer?>(null), Ttl, TestJson.Default.CachedCustomer));
        Assert.False(await Db.KeyExistsAsync(_prefix + "json:8"));
    }

    [Fact]
    public async Task A_key_with_a_hash_tag_takes_the_lease_named_by_the_suffix_rule()
    {
        var (cache, _) = Cache();
        var leaseSeen = "";

        await cache.GetOrLoadAsync(
            "user:{42}:profile",
            async _ =>
            {
                leaseSeen = (string?)await Db.StringGetAsync(_prefix + "user:{42}:profile:lease") ?? "";
                return "p";
            },
            Ttl);

        Assert.NotEqual("", leaseSeen);
    }

    [Fact]
    public async Task Cancelling_a_wait_for_another_readers_lease_ends_the_read()
    {
        var (cache, _) = Cache(new LeasedCacheOptions { LeaseWaitDelay = TimeSpan.FromMinutes(1) });
        await Db.StringSetAsync(LeaseKeyOf("customer:7"), "holder", TimeSpan.FromMinutes(1));
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            cache.GetOrLoadAsync("customer:7", _ => Task.FromResult<string?>("v"), Ttl, cancellationToken: cancel.Token));
    }

    private static InvalidationBatch Batch(bool leases, string[]? keys = null, string[]? tags = null)
    {
        var batch = new InvalidationBatch();
        batch.Add(new InvalidationPlan(PlanOutcome.Invalidate, keys ?? [], tags ?? [], []) { Leases = leases });
        return batch;
    }

    public void Dispose()
    {
        foreach (var owned in _owned)
        {
            owned.Dispose();
        }

        _meters.Dispose();
    }
}

public sealed record CachedCustomer(int Id, string Name);

[JsonSerializable(typeof(CachedCustomer))]
internal sealed partial class TestJson : JsonSerializerContext;
