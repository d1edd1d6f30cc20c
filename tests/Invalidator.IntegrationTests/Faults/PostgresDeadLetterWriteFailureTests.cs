using System.Globalization;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;
using Npgsql;
using NpgsqlTypes;
using StackExchange.Redis;
using Xunit.Abstractions;

using static Invalidator.IntegrationTests.Worker.CachedKeys;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// Direct mode: a region is down and the dead-letter table cannot be written (renamed away; the fixture
/// connects as superuser, so privileges cannot take it away). Nothing is confirmed to the slot while the
/// inserts fail; once the table is back the rows appear, the slot moves on and the region is redriven.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresDeadLetterWriteFailureTests(PostgresFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const int West = 1;

    private const int FailuresToWatch = 4;

    [Fact]
    public async Task A_failed_dead_letter_insert_confirms_nothing_and_the_batch_is_retried_until_the_table_takes_it()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, FaultSettings.Rules, "pgdlqfail", FaultSettings.PostgresSchema("pub_pgdlqfail"));
        FaultSettings.ApplyFastResilience(harness.Settings, fixture.Regions);
        harness.Settings["Invalidator:DeadLetter:Table"] = "ops.dead";
        var regions = await fixture.ConnectRegionsAsync();
        var east = regions[0];
        var west = regions[West];
        var ids = Enumerable.Range(100, 20).ToList();
        var keys = ids.Select(i => $"customer:{i}").ToList();
        await SetAsync(regions, harness.KeyPrefix, keys);

        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");
        Assert.Equal(0L, await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead"));

        // West keeps a snapshot of the stale entries, then dies; its restart loads them back.
        using (var admin = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString(West) + ",allowAdmin=true"))
        {
            await admin.GetServers()[0].ExecuteAsync("SAVE");
        }

        await fixture.Redis.KillAsync(West);
        var renamed = false;
        try
        {
            await harness.ExecuteAsync("ALTER TABLE ops.dead RENAME TO dead_away");
            renamed = true;

            // Four transactions of five updates each.
            foreach (var chunk in ids.Chunk(5))
            {
                await harness.ExecuteAsync($"UPDATE customers SET name = 'd' WHERE id IN ({string.Join(",", chunk)})");
            }

            // The insert position, not pg_current_wal_lsn(): the test server runs with synchronous_commit=off,
            // so the write position may still be short of the last commit's end.
            var afterUpdates = await harness.ScalarAsync<NpgsqlLogSequenceNumber>("SELECT pg_current_wal_insert_lsn()");

            // While the inserts fail, watch the slot's confirmed position across several failed attempts.
            var confirmedWhileFailing = new List<NpgsqlLogSequenceNumber>();
            await Eventually.AssertAsync(
                async () =>
                {
                    if (await harness.ConfirmedFlushAsync() is { } lsn)
                    {
                        confirmedWhileFailing.Add(lsn);
                    }

                    return harness.Logs.Count(4001) >= FailuresToWatch;
                },
                Deadline,
                $"the worker logs {FailuresToWatch} failed dead-letter inserts");
            if (await harness.ConfirmedFlushAsync() is { } last)
            {
                confirmedWhileFailing.Add(last);
            }

            Assert.Equal(0L, await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead_away"));
            Assert.True(await NoneExistAsync([east], harness.KeyPrefix, keys[..5]), "east applied the stuck batch's deletes");
            var failuresBeforeRestore = harness.Logs.Count(4001);

            await harness.ExecuteAsync("ALTER TABLE ops.dead_away RENAME TO dead");
            renamed = false;

            List<(RegionDeadLetter Letter, NpgsqlLogSequenceNumber To)> letters = [];
            await Eventually.AssertAsync(
                async () =>
                {
                    letters = await ReadLettersAsync(harness);
                    return letters.SelectMany(l => l.Letter.Keys).Distinct().Count() == keys.Count;
                },
                Deadline,
                "every invalidation west missed is in the dead-letter table");
            Assert.All(letters, l => Assert.Equal(fixture.Regions[West], l.Letter.Region));
            Assert.Equal(keys.Order(), letters.SelectMany(l => l.Letter.Keys).Distinct().Order());

            // The first stuck batch ends at the first letter's commit end: nothing at or past it was confirmed meanwhile.
            var firstCommitEnd = letters.Min(l => l.To);
            output.WriteLine(
                $"{confirmedWhileFailing.Count} samples of confirmed_flush_lsn while {failuresBeforeRestore} inserts failed: " +
                $"max {confirmedWhileFailing.Max()}; first stuck commit ends at {firstCommitEnd}; updates end by {afterUpdates}");
            Assert.NotEmpty(confirmedWhileFailing);
            Assert.True(firstCommitEnd <= afterUpdates, $"the first letter ends at {firstCommitEnd}, after the updates ({afterUpdates})");
            Assert.All(confirmedWhileFailing, lsn => Assert.True(lsn < firstCommitEnd, $"confirmed_flush_lsn {lsn} passed the stuck commit {firstCommitEnd} while the table was unwritable"));

            await Eventually.AssertAsync(async () => await harness.ConfirmedFlushAsync() >= afterUpdates, Deadline, "the slot's confirmed position moves past the updates");
            Assert.True(await NoneExistAsync([east], harness.KeyPrefix, keys), "east applied every update");
            Assert.Equal(0L, await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead WHERE redriven_at IS NOT NULL"));
        }
        finally
        {
            if (renamed)
            {
                await harness.ExecuteAsync("ALTER TABLE ops.dead_away RENAME TO dead");
            }

            await fixture.Redis.StartAsync(West);
        }

        await Eventually.AssertAsync(() => NoneExistAsync([west], harness.KeyPrefix, keys), Deadline, "the redrive deletes what west missed");
        await Eventually.AssertAsync(
            async () => await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead WHERE kind = 'region' AND redriven_at IS NULL") == 0,
            Deadline,
            "every region letter is marked redriven");
        // The restarted west loaded its snapshot, so the redrive found real stale entries, not an empty server.
        var found = harness.Logs.Entries.Where(e => e.EventId == 2007)
            .Sum(e => long.Parse(Regex.Match(e.Message, @"(\d+) were cached").Groups[1].Value, CultureInfo.InvariantCulture));
        Assert.Equal(keys.Count, found);
    }

    /// <summary>Region letters in id order, each with the commit end LSN its <c>source_position</c> names.</summary>
    private static async Task<List<(RegionDeadLetter Letter, NpgsqlLogSequenceNumber To)>> ReadLettersAsync(PostgresWorkerHarness harness)
    {
        await using var connection = new NpgsqlConnection(harness.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT payload::text, source_position FROM ops.dead WHERE kind = 'region' ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        var letters = new List<(RegionDeadLetter, NpgsqlLogSequenceNumber)>();
        while (await reader.ReadAsync())
        {
            var letter = RegionDeadLetter.FromJson(System.Text.Encoding.UTF8.GetBytes(reader.GetString(0)));
            // "from-to[,from-to...]": the batch's first range ends at its first commit.
            var to = NpgsqlLogSequenceNumber.Parse(reader.GetString(1).Split(',')[0].Split('-')[1]);
            letters.Add((letter, to));
        }

        return letters;
    }
}
