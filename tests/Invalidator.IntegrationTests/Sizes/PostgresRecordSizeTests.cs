using System.Text.Json;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

using static Invalidator.IntegrationTests.Worker.CachedKeys;

namespace Invalidator.IntegrationTests.Sizes;

/// <summary>
/// Direct mode applies <c>Invalidator:DeadLetter:MaxRecordBytes</c> to a change's row data: a change over it is never
/// read whole, it goes to the dead-letter table as poison with the reason, and the stream goes on behind it.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresRecordSizeTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const int Limit = 64 * 1024;

    private const string Rules = """
        tables:
          public.docs:
            keys: ["doc:{id}"]
        """;

    private static string Schema(string publication) => $"""
        CREATE TABLE docs (id int PRIMARY KEY, body text);
        ALTER TABLE docs REPLICA IDENTITY FULL;
        CREATE PUBLICATION {publication} FOR TABLE docs;
        """;

    [Fact]
    public async Task A_change_over_MaxRecordBytes_is_dead_lettered_with_its_reason_and_the_changes_behind_it_apply()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "pgsize", Schema("pub_pgsize"));
        harness.Settings["Invalidator:DeadLetter:MaxRecordBytes"] = Limit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var regions = await fixture.ConnectRegionsAsync();
        await SetAsync(regions, harness.KeyPrefix, ["doc:1", "doc:2", "doc:3"]);
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        // 200 KB is over the limit; just under it (the control) is planned as usual.
        await harness.ExecuteAsync("INSERT INTO docs VALUES (1, repeat('x', 200 * 1024))");
        await harness.ExecuteAsync($"INSERT INTO docs VALUES (3, repeat('y', {Limit - 100}))");
        await harness.ExecuteAsync("INSERT INTO docs VALUES (2, 'small')");
        var end = await harness.ScalarAsync<NpgsqlTypes.NpgsqlLogSequenceNumber>("SELECT pg_current_wal_insert_lsn()");

        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["doc:2", "doc:3"]), Deadline,
            "the changes behind the oversized one apply, the one just under the limit too");
        await Eventually.AssertAsync(async () => await harness.ConfirmedFlushAsync() >= end, Deadline, "the slot moves past the oversized change");
        Assert.True(await AllExistAsync(regions, harness.KeyPrefix, ["doc:1"]), "the oversized change is poison: not planned");

        var (reason, payload) = await PoisonAsync(harness);
        Assert.Contains("MaxRecordBytes (65536)", reason, StringComparison.Ordinal);
        Assert.Contains("'body' (204800 bytes)", reason, StringComparison.Ordinal);
        Assert.True(payload.Length < Limit, $"the letter holds only what fits: {payload.Length} bytes");
        using var json = JsonDocument.Parse(payload);
        Assert.Equal("public.docs", json.RootElement.GetProperty("table").GetString());
        Assert.Equal("1", json.RootElement.GetProperty("after").GetProperty("id").GetString());
        Assert.False(json.RootElement.GetProperty("after").TryGetProperty("body", out _), "the oversized column is left out, unread");
        Assert.Equal(1L, await harness.ScalarAsync<long>("SELECT count(*) FROM invalidator_dead_letters"));
    }

    [Fact]
    public async Task Control_the_same_change_under_the_default_limit_is_planned_and_applied()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "pgsizectl", Schema("pub_pgsizectl"));
        var regions = await fixture.ConnectRegionsAsync();
        await SetAsync(regions, harness.KeyPrefix, ["doc:1"]);
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await harness.ExecuteAsync("INSERT INTO docs VALUES (1, repeat('x', 200 * 1024))");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["doc:1"]), Deadline, "under 1 MiB the change is planned");
        Assert.Equal(0L, await harness.ScalarAsync<long>("SELECT count(*) FROM invalidator_dead_letters"));
    }

    private static async Task<(string Reason, string Payload)> PoisonAsync(PostgresWorkerHarness harness)
    {
        (string, string) found = default;
        await Eventually.AssertAsync(
            async () =>
            {
                await using var connection = new Npgsql.NpgsqlConnection(harness.ConnectionString);
                await connection.OpenAsync();
                await using var command = new Npgsql.NpgsqlCommand("SELECT reason, payload::text FROM invalidator_dead_letters WHERE kind = 'poison'", connection);
                await using var reader = await command.ExecuteReaderAsync();
                if (!await reader.ReadAsync())
                {
                    return false;
                }

                found = (reader.GetString(0), reader.GetString(1));
                return true;
            },
            Deadline,
            "the oversized change is in the dead-letter table");
        return found;
    }
}
