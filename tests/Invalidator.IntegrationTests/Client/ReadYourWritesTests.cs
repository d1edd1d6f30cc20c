using System.Diagnostics;
using Invalidator.Client;
using Invalidator.IntegrationTests.Faults;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Npgsql;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Client;

/// <summary>
/// Read-your-writes in direct mode on real servers: a worker streaming the slot publishes each region's applied
/// position (<c>invalidator:applied</c>), and <see cref="LeasedCache"/> reads with <see cref="LeasedReadOptions.AfterLsn"/>
/// bypass the cache until it reaches the writer's LSN.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class ReadYourWritesTests(PostgresFixture fixture, ITestOutputHelper output)
{
    private const int Rounds = 2000;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Ttl = TimeSpan.FromMinutes(5);

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
            leases: true
        """;

    [Fact]
    public async Task A_writer_reading_its_row_back_through_the_cache_sees_its_old_value_without_the_option_and_never_with_it()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "ryw", FaultSettings.PostgresSchema("pub_ryw"));
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");
        var east = (await fixture.ConnectRegionsAsync())[0];
        using var cache = new LeasedCache(east, new LeasedCacheOptions { KeyPrefix = harness.KeyPrefix });
        await using var connection = await WriterAsync(harness);

        var without = await WriteAndReadBackAsync(connection, cache, "plain", useOption: false);
        var with = await WriteAndReadBackAsync(connection, cache, "ryw", useOption: true);
        output.WriteLine($"without the option: {without.Stale} of {Rounds} reads saw the old value ({without.Loads} loaded from the database), {without.Elapsed.TotalSeconds:0.0} s");
        output.WriteLine($"with the option:    {with.Stale} of {Rounds} reads saw the old value ({with.Loads} loaded from the database, {Rounds - with.Loads} served by the cache), {with.Elapsed.TotalSeconds:0.0} s");

        Assert.True(without.Stale > 0, "control: right after its write, a plain read finds the value the worker has not deleted yet");
        Assert.Equal(0, with.Stale);
        Assert.True(AppliedPosition.TryParse((string?)await east.StringGetAsync(harness.KeyPrefix + AppliedPosition.KeyName), out _), "the region's applied position is published");
    }

    [Fact]
    public async Task WaitForAppliedAsync_returns_once_the_region_applied_the_write_and_the_position_never_moves_back()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "rywwait", FaultSettings.PostgresSchema("pub_rywwait"));
        var regions = await fixture.ConnectRegionsAsync();
        var (east, west) = (regions[0], regions[1]);
        RedisKey applied = harness.KeyPrefix + AppliedPosition.KeyName;
        // West already holds a position far ahead (another worker's, say): the worker must not move it back.
        const string ahead = "FFFFFFFF/0";
        await west.StringSetAsync(applied, ahead);
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");
        using var eastCache = new LeasedCache(east, new LeasedCacheOptions { KeyPrefix = harness.KeyPrefix });

        await CachedKeys.SetAsync(regions, harness.KeyPrefix, ["customer:3"]);
        var first = await WriteAsync(harness, 3, "a");
        var clock = Stopwatch.StartNew();
        Assert.True(await eastCache.WaitForAppliedAsync(first, Deadline), "east applies the write");
        output.WriteLine($"east applied {first} after {clock.ElapsedMilliseconds} ms (applied position {await east.StringGetAsync(applied)})");
        Assert.True(await CachedKeys.NoneExistAsync([east], harness.KeyPrefix, ["customer:3"]), "the delete ran before the position was published");

        // A later write's position in east is written after the first one's attempt in west: west kept its own.
        var second = await WriteAsync(harness, 4, "b");
        Assert.True(await eastCache.WaitForAppliedAsync(second, Deadline), "east applies the second write");
        Assert.Equal(ahead, (string?)await west.StringGetAsync(applied));

        // Control: without a position ahead, west gets the worker's.
        await west.KeyDeleteAsync(applied);
        var third = await WriteAsync(harness, 5, "c");
        using var westCache = new LeasedCache(west, new LeasedCacheOptions { KeyPrefix = harness.KeyPrefix });
        Assert.True(await westCache.WaitForAppliedAsync(third, Deadline), "west gets the worker's position");

        // How long a write takes to be applied in east, as a reader waiting for it sees it.
        var waits = new List<TimeSpan>();
        for (var round = 0; round < 50; round++)
        {
            var lsn = await WriteAsync(harness, 6, $"w{round}");
            clock.Restart();
            Assert.True(await eastCache.WaitForAppliedAsync(lsn, Deadline), $"round {round}: east applies the write");
            waits.Add(clock.Elapsed);
        }

        waits.Sort();
        output.WriteLine($"write to applied position in east, 50 writes: median {waits[25].TotalMilliseconds:0.0} ms, p90 {waits[45].TotalMilliseconds:0.0} ms, max {waits[^1].TotalMilliseconds:0.0} ms");

        // A position not reached: false once the timeout has passed.
        clock.Restart();
        Assert.False(await eastCache.WaitForAppliedAsync("FFFFFFFF/FFFFFFF0", TimeSpan.FromMilliseconds(300)));
        Assert.True(clock.Elapsed >= TimeSpan.FromMilliseconds(300), $"returned after {clock.Elapsed}");
    }

    /// <summary>Writes a row then reads it back through the cache at once, <see cref="Rounds"/> times.</summary>
    private static async Task<(int Stale, int Loads, TimeSpan Elapsed)> WriteAndReadBackAsync(NpgsqlConnection connection, LeasedCache cache, string tag, bool useOption)
    {
        var stale = 0;
        var loads = 0;
        var clock = Stopwatch.StartNew();
        for (var round = 0; round < Rounds; round++)
        {
            var name = $"{tag}-{round}";
            await using (var update = new NpgsqlCommand("UPDATE customers SET name = $1 WHERE id = 7", connection) { Parameters = { new() { Value = name } } })
            {
                await update.ExecuteNonQueryAsync();
            }

            // The writer's LSN, taken after its commit (the README's pattern).
            string lsn;
            await using (var position = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", connection))
            {
                lsn = (string)(await position.ExecuteScalarAsync())!;
            }

            var read = await cache.GetOrLoadAsync(
                "customer:7",
                async ct =>
                {
                    loads++;
                    await using var select = new NpgsqlCommand("SELECT name FROM customers WHERE id = 7", connection);
                    return (string?)await select.ExecuteScalarAsync(ct);
                },
                Ttl,
                tags: null,
                useOption ? new LeasedReadOptions { AfterLsn = lsn } : null);
            if (read != name)
            {
                stale++;
            }
        }

        return (stale, loads, clock.Elapsed);
    }

    private static async Task<string> WriteAsync(PostgresWorkerHarness harness, int id, string name)
    {
        await using var connection = await WriterAsync(harness);
        await using var command = new NpgsqlCommand($"UPDATE customers SET name = '{name}' WHERE id = {id}", connection);
        await command.ExecuteNonQueryAsync();
        await using var position = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", connection);
        return (string)(await position.ExecuteScalarAsync())!;
    }

    /// <summary>
    /// The writer's connection, with <c>synchronous_commit</c> on as in production: the test server turns it off, and then
    /// <c>pg_current_wal_lsn()</c> (the WAL written so far) can be behind the commit that just returned (docs/consistency.md).
    /// </summary>
    private static async Task<NpgsqlConnection> WriterAsync(PostgresWorkerHarness harness)
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(harness.ConnectionString) { Options = "-c synchronous_commit=on" }.ConnectionString);
        await connection.OpenAsync();
        return connection;
    }
}
