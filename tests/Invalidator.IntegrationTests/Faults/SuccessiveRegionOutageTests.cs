using System.Diagnostics;
using System.Text;
using Confluent.Kafka;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.DeadLetters;
using StackExchange.Redis;
using Xunit.Abstractions;

using static Invalidator.IntegrationTests.Worker.CachedKeys;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// Two regions go down one after the other; the first comes back (from its old data, so its stale entries are
/// back too) while the second is still down. The first region's dead letters are redriven within seconds: a
/// region that is still down never holds back the redrive of another, though their letters are interleaved in the
/// store. Once the second region is back it gets its own.
/// </summary>
public static class SuccessiveRegionOutage
{
    public const int East = 0;
    public const int West = 1;
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>From the first region's restart to its last key redriven, with room for a slow shared machine.</summary>
    public static readonly TimeSpan RedriveBound = TimeSpan.FromSeconds(15);

    /// <summary>Changed while only east is down: east's letters.</summary>
    public static readonly IReadOnlyList<int> EastOnly = Enumerable.Range(100, 10).ToList();

    /// <summary>Changed while both are down: letters for both, interleaved (rows that exist in the direct-mode table, 0-200).</summary>
    public static readonly IReadOnlyList<int> Both = Enumerable.Range(150, 10).ToList();

    public static List<string> Keys(IEnumerable<int> ids) => ids.Select(i => $"customer:{i}").ToList();

    /// <summary>A snapshot of the region's stale entries, which its restart loads back.</summary>
    public static async Task SaveAsync(string connectionString)
    {
        using var admin = await ConnectionMultiplexer.ConnectAsync(connectionString + ",allowAdmin=true");
        await admin.GetServers()[0].ExecuteAsync("SAVE");
    }

    /// <summary>The region order of the letters in the store: the redrive must not be held back by that order.</summary>
    public static void AssertInterleaved(IReadOnlyList<string> regions, IReadOnlyList<string> names)
    {
        var firstWest = regions.ToList().IndexOf(names[West]);
        var lastEast = regions.ToList().LastIndexOf(names[East]);
        Assert.True(firstWest >= 0 && firstWest < lastEast, $"a west letter comes before east's last one: {string.Join(",", regions)}");
    }
}

[Collection(ServersCollection.Name)]
public sealed class KafkaSuccessiveRegionOutageTests(ServersFixture servers, ITestOutputHelper output)
{
    [Fact]
    public async Task The_first_region_back_is_redriven_within_seconds_while_the_second_is_still_down()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "twodown");
        FaultSettings.ApplyFastResilience(harness.Settings, servers.Regions);
        await harness.CreateTopicAsync(partitions: 2);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        var east = keys.Regions[SuccessiveRegionOutage.East];
        var west = keys.Regions[SuccessiveRegionOutage.West];
        var eastOnly = SuccessiveRegionOutage.Keys(SuccessiveRegionOutage.EastOnly);
        var both = SuccessiveRegionOutage.Keys(SuccessiveRegionOutage.Both);
        await keys.SetAsync([.. eastOnly, .. both]);
        await harness.StartAsync();

        await SuccessiveRegionOutage.SaveAsync(servers.Redis.ConnectionString(SuccessiveRegionOutage.East));
        await servers.Redis.KillAsync(SuccessiveRegionOutage.East);
        var (eastDown, westDown) = (true, false);
        try
        {
            foreach (var id in SuccessiveRegionOutage.EastOnly)
            {
                await harness.ProduceAsync(FaultSettings.Customer(id), partition: id % 2);
            }

            await Eventually.AssertAsync(() => keys.NoneExistAsync(eastOnly, west), SuccessiveRegionOutage.Deadline, "west applies what is changed while east is down");
            await Eventually.AssertAsync(() => Letters(harness).Contains("east"), SuccessiveRegionOutage.Deadline, "east's invalidations are dead-lettered");

            await SuccessiveRegionOutage.SaveAsync(servers.Redis.ConnectionString(SuccessiveRegionOutage.West));
            await servers.Redis.KillAsync(SuccessiveRegionOutage.West);
            westDown = true;
            // In two rounds, the second after west's first letter: so east letters follow a west one in the store.
            foreach (var round in SuccessiveRegionOutage.Both.Chunk(SuccessiveRegionOutage.Both.Count / 2))
            {
                var lettersBefore = Letters(harness).Count(l => l == "west");
                foreach (var id in round)
                {
                    await harness.ProduceAsync(FaultSettings.Customer(id), partition: id % 2);
                }

                await Eventually.AssertAsync(() => Letters(harness).Count(l => l == "west") > lettersBefore, SuccessiveRegionOutage.Deadline, "the round is dead-lettered for west too");
            }

            await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, SuccessiveRegionOutage.Deadline,
                "with both regions down every change is dead-lettered for both and acknowledged");
            SuccessiveRegionOutage.AssertInterleaved(Letters(harness), servers.Regions);

            // East comes back from its old data (its stale entries with it) while west is still down.
            await servers.Redis.StartAsync(SuccessiveRegionOutage.East);
            eastDown = false;
            var restarted = Stopwatch.StartNew();
            await Eventually.AssertAsync(() => keys.NoneExistAsync([.. eastOnly, .. both], east), SuccessiveRegionOutage.Deadline, "east's dead letters are redriven while west is down");
            output.WriteLine($"east redriven {restarted.ElapsedMilliseconds} ms after its restart, west still down; letters: {string.Join(",", Letters(harness))}");
            Assert.True(restarted.Elapsed < SuccessiveRegionOutage.RedriveBound, $"east's redrive took {restarted.Elapsed} while west was down");
        }
        finally
        {
            if (eastDown)
            {
                await servers.Redis.StartAsync(SuccessiveRegionOutage.East);
            }

            if (westDown)
            {
                await servers.Redis.StartAsync(SuccessiveRegionOutage.West);
            }
        }

        await Eventually.AssertAsync(() => keys.NoneExistAsync(both, west), SuccessiveRegionOutage.Deadline, "west's dead letters are redriven once it is back");
        Assert.True(await keys.NoneExistAsync([.. eastOnly, .. both]), "every key is gone in both regions");
        foreach (var region in servers.Regions)
        {
            await Eventually.AssertAsync(
                async () => await servers.Kafka.GetLagAsync($"{harness.GroupId}.redrive.{region}", harness.DeadLetterTopic) == 0,
                SuccessiveRegionOutage.Deadline,
                $"{region}'s redrive progress reaches the end of the dead-letter topic");
        }
    }

    /// <summary>The regions of the region letters on the dead-letter topic, in order.</summary>
    private List<string> Letters(WorkerHarness harness)
    {
        using var consumer = new ConsumerBuilder<byte[], byte[]>(servers.Kafka.CreateConsumerConfig(ServersFixture.UniqueName("letters"))).Build();
        var partition = new TopicPartition(harness.DeadLetterTopic, 0);
        var end = consumer.QueryWatermarkOffsets(partition, TimeSpan.FromSeconds(10)).High.Value;
        var regions = new List<string>();
        if (end == 0)
        {
            return regions;
        }

        consumer.Assign(new TopicPartitionOffset(partition, Offset.Beginning));
        while (true)
        {
            var record = consumer.Consume(SuccessiveRegionOutage.Deadline) ?? throw new Xunit.Sdk.XunitException($"{harness.DeadLetterTopic} ended early");
            if (Encoding.UTF8.GetString(record.Message.Headers.GetLastBytes(DeadLetterKinds.KindHeader)) == DeadLetterKinds.Region)
            {
                regions.Add(RegionDeadLetter.FromJson(record.Message.Value).Region);
            }

            if (record.Offset.Value >= end - 1)
            {
                return regions;
            }
        }
    }
}

[Collection(PostgresCollection.Name)]
public sealed class PostgresSuccessiveRegionOutageTests(PostgresFixture fixture, ITestOutputHelper output)
{
    [Fact]
    public async Task The_first_region_back_is_redriven_within_seconds_while_the_second_is_still_down()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, FaultSettings.Rules, "pgtwodown", FaultSettings.PostgresSchema("pub_pgtwodown"));
        FaultSettings.ApplyFastResilience(harness.Settings, fixture.Regions);
        harness.Settings["Invalidator:DeadLetter:Table"] = "ops.dead";
        var regions = await fixture.ConnectRegionsAsync();
        var east = regions[SuccessiveRegionOutage.East];
        var west = regions[SuccessiveRegionOutage.West];
        var eastOnly = SuccessiveRegionOutage.Keys(SuccessiveRegionOutage.EastOnly);
        var both = SuccessiveRegionOutage.Keys(SuccessiveRegionOutage.Both);
        await SetAsync(regions, harness.KeyPrefix, [.. eastOnly, .. both]);
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, SuccessiveRegionOutage.Deadline, "the worker streams from its slot");

        await SuccessiveRegionOutage.SaveAsync(fixture.Redis.ConnectionString(SuccessiveRegionOutage.East));
        await fixture.Redis.KillAsync(SuccessiveRegionOutage.East);
        var (eastDown, westDown) = (true, false);
        try
        {
            foreach (var id in SuccessiveRegionOutage.EastOnly)
            {
                await harness.ExecuteAsync($"UPDATE customers SET name = 'e' WHERE id = {id}");
            }

            await Eventually.AssertAsync(() => NoneExistAsync([west], harness.KeyPrefix, eastOnly), SuccessiveRegionOutage.Deadline, "west applies what is changed while east is down");
            await Eventually.AssertAsync(async () => (await LettersAsync(harness)).Contains(fixture.Regions[SuccessiveRegionOutage.East]), SuccessiveRegionOutage.Deadline, "east's invalidations are dead-lettered");

            await SuccessiveRegionOutage.SaveAsync(fixture.Redis.ConnectionString(SuccessiveRegionOutage.West));
            await fixture.Redis.KillAsync(SuccessiveRegionOutage.West);
            westDown = true;
            // In two rounds, the second after west's first letter: so east letters follow a west one in the table.
            foreach (var round in SuccessiveRegionOutage.Both.Chunk(SuccessiveRegionOutage.Both.Count / 2))
            {
                var lettersBefore = (await LettersAsync(harness)).Count(l => l == fixture.Regions[SuccessiveRegionOutage.West]);
                foreach (var id in round)
                {
                    await harness.ExecuteAsync($"UPDATE customers SET name = 'b' WHERE id = {id}");
                }

                await Eventually.AssertAsync(async () => (await LettersAsync(harness)).Count(l => l == fixture.Regions[SuccessiveRegionOutage.West]) > lettersBefore, SuccessiveRegionOutage.Deadline, "the round is dead-lettered for west too");
            }

            var lastChange = await harness.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_insert_lsn()");
            await Eventually.AssertAsync(async () => await harness.ConfirmedFlushAsync() >= lastChange, SuccessiveRegionOutage.Deadline,
                "with both regions down every change is dead-lettered for both and confirmed");
            SuccessiveRegionOutage.AssertInterleaved(await LettersAsync(harness), fixture.Regions);

            // East comes back from its old data (its stale entries with it) while west is still down.
            await fixture.Redis.StartAsync(SuccessiveRegionOutage.East);
            eastDown = false;
            var restarted = Stopwatch.StartNew();
            await Eventually.AssertAsync(() => NoneExistAsync([east], harness.KeyPrefix, [.. eastOnly, .. both]), SuccessiveRegionOutage.Deadline, "east's dead letters are redriven while west is down");
            output.WriteLine($"east redriven {restarted.ElapsedMilliseconds} ms after its restart, west still down; letters: {string.Join(",", await LettersAsync(harness))}");
            Assert.True(restarted.Elapsed < SuccessiveRegionOutage.RedriveBound, $"east's redrive took {restarted.Elapsed} while west was down");
            Assert.Equal(0L, await harness.ScalarAsync<long>($"SELECT count(*) FROM ops.dead WHERE region = '{fixture.Regions[SuccessiveRegionOutage.West]}' AND redriven_at IS NOT NULL"));
        }
        finally
        {
            if (eastDown)
            {
                await fixture.Redis.StartAsync(SuccessiveRegionOutage.East);
            }

            if (westDown)
            {
                await fixture.Redis.StartAsync(SuccessiveRegionOutage.West);
            }
        }

        await Eventually.AssertAsync(() => NoneExistAsync([west], harness.KeyPrefix, both), SuccessiveRegionOutage.Deadline, "west's dead letters are redriven once it is back");
        await Eventually.AssertAsync(
            async () => await harness.ScalarAsync<long>("SELECT count(*) FROM ops.dead WHERE kind = 'region' AND redriven_at IS NULL") == 0,
            SuccessiveRegionOutage.Deadline,
            "every region letter is marked redriven");
        Assert.True(await NoneExistAsync(regions, harness.KeyPrefix, [.. eastOnly, .. both]), "every key is gone in both regions");
    }

    /// <summary>The regions of the region letters in the table, in id order.</summary>
    private static async Task<List<string>> LettersAsync(PostgresWorkerHarness harness)
    {
        var regions = new List<string>();
        await using var connection = new Npgsql.NpgsqlConnection(harness.ConnectionString);
        await connection.OpenAsync();
        await using var command = new Npgsql.NpgsqlCommand("SELECT region FROM ops.dead WHERE kind = 'region' ORDER BY id", connection);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            regions.Add(reader.GetString(0));
        }

        return regions;
    }
}
