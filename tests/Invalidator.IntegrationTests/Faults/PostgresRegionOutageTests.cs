using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;
using Npgsql;
using StackExchange.Redis;
using Xunit.Abstractions;

using static Invalidator.IntegrationTests.Worker.CachedKeys;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// Direct mode: one region's Redis dies mid-stream. The other keeps flowing, the slot keeps being confirmed,
/// the dead region's invalidations go to the dead-letter table and are redriven after its restart.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRegionOutageTests(PostgresFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>The retry budget (2 retries, at most 0.2 s apart, 1 s attempt timeout) plus the insert, with room for a slow machine.</summary>
    private static readonly TimeSpan HealthyRegionBound = TimeSpan.FromSeconds(10);

    private const int West = 1;

    [Fact]
    public async Task Killing_one_region_keeps_the_other_and_the_slot_flowing_and_the_table_redrives_the_restarted_region()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, FaultSettings.Rules, "pgoutage", FaultSettings.PostgresSchema("pub_pgoutage"));
        FaultSettings.ApplyFastResilience(harness.Settings, fixture.Regions);
        harness.Settings["Invalidator:DeadLetter:Table"] = "ops.dead";
        var regions = await fixture.ConnectRegionsAsync();
        var east = regions[0];
        var west = regions[West];
        var before = Enumerable.Range(0, 5).Select(i => $"customer:{i}").ToList();
        var during = Enumerable.Range(100, 20).Select(i => $"customer:{i}").ToList();
        await SetAsync(regions, harness.KeyPrefix, [.. before, .. during]);

        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");
        await harness.ExecuteAsync("UPDATE customers SET name = 'b' WHERE id < 5");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, before), Deadline, "changes before the outage are applied in both regions");
        Assert.Equal(0L, await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead"));

        // West keeps a snapshot of the stale entries, then dies; its restart loads them back.
        using (var admin = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString(West) + ",allowAdmin=true"))
        {
            await admin.GetServers()[0].ExecuteAsync("SAVE");
        }

        await fixture.Redis.KillAsync(West);
        try
        {
            var confirmedAtKill = await harness.ConfirmedFlushAsync();
            var delays = new List<TimeSpan>();
            foreach (var id in Enumerable.Range(100, 20))
            {
                var clock = Stopwatch.StartNew();
                await harness.ExecuteAsync($"UPDATE customers SET name = 'd' WHERE id = {id}");
                await Eventually.AssertAsync(() => NoneExistAsync([east], harness.KeyPrefix, [$"customer:{id}"]), Deadline, $"east applies customer:{id} while west is down");
                delays.Add(clock.Elapsed);
            }

            output.WriteLine($"east delay during the outage: max {delays.Max().TotalMilliseconds:0} ms, median {delays.Order().ElementAt(delays.Count / 2).TotalMilliseconds:0} ms");
            Assert.All(delays, d => Assert.True(d < HealthyRegionBound, $"the healthy region waited {d} for the dead one"));

            // The slot is confirmed past the outage's changes: nothing waits for west.
            var lastChange = await harness.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");
            await Eventually.AssertAsync(async () => await harness.ConfirmedFlushAsync() >= lastChange, Deadline, "the slot's confirmed position moves on during the outage");
            output.WriteLine($"confirmed_flush_lsn moved from {confirmedAtKill} to {await harness.ConfirmedFlushAsync()} while west was down");

            List<RegionDeadLetter> letters = [];
            await Eventually.AssertAsync(
                async () =>
                {
                    letters = await ReadLettersAsync(harness);
                    return letters.SelectMany(l => l.Keys).Distinct().Count() == during.Count;
                },
                Deadline,
                "every invalidation west missed is in the dead-letter table");
            Assert.All(letters, l => Assert.Equal(fixture.Regions[West], l.Region));
            Assert.Equal(during.Order(), letters.SelectMany(l => l.Keys).Distinct().Order());
            Assert.Equal(0L, await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead WHERE redriven_at IS NOT NULL"));
        }
        finally
        {
            await fixture.Redis.StartAsync(West);
        }

        var restarted = Stopwatch.StartNew();
        await Eventually.AssertAsync(() => NoneExistAsync([west], harness.KeyPrefix, during), Deadline, "the redrive deletes what west missed");
        await Eventually.AssertAsync(
            async () => await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead WHERE kind = 'region' AND redriven_at IS NULL") == 0,
            Deadline,
            "every region letter is marked redriven");
        output.WriteLine($"redrive after west's restart: {restarted.ElapsedMilliseconds} ms");

        // The restarted west loaded its snapshot, so the redrive found real stale entries, not an empty server.
        var found = harness.Logs.Entries.Where(e => e.EventId == 2007)
            .Sum(e => long.Parse(Regex.Match(e.Message, @"(\d+) were cached").Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Equal(during.Count, found);
        Assert.True(await NoneExistAsync(regions, harness.KeyPrefix, [.. before, .. during]), "every expected key is gone in both regions");
    }

    private static async Task<List<RegionDeadLetter>> ReadLettersAsync(PostgresWorkerHarness harness)
    {
        await using var connection = new NpgsqlConnection(harness.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT payload::text FROM ops.dead WHERE kind = 'region' ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var letters = new List<RegionDeadLetter>();
        while (await reader.ReadAsync())
        {
            letters.Add(RegionDeadLetter.FromJson(System.Text.Encoding.UTF8.GetBytes(reader.GetString(0))));
        }

        return letters;
    }
}
