using System.Text.Json;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Sizes;

/// <summary>
/// Direct mode's dead-letter table under <c>Invalidator:DeadLetter:Retention</c> (rows redriven or older than it are
/// purged) and <c>Invalidator:DeadLetter:Redact</c> (poison letters keep only the record key and the reason).
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresDeadLetterRetentionTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.people:
            keys: ["person:{id}"]
        """;

    private static string Schema(string publication) => $"""
        CREATE TABLE people (id int PRIMARY KEY, email text, bio text);
        ALTER TABLE people REPLICA IDENTITY FULL;
        CREATE PUBLICATION {publication} FOR TABLE people;
        """;

    [Fact]
    public async Task Rows_redriven_or_older_than_the_retention_are_purged_in_bounded_deletes_and_the_others_stay()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "pgretain", Schema("pub_pgretain"));
        // A minute's retention purges every second (a sixtieth of it): the fresh rows below stay for the whole test.
        harness.Settings["Invalidator:DeadLetter:Retention"] = "00:01:00";
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker created its table and streams");

        // More old rows than one delete takes, one redriven row, and the control: a pending region letter (of a region
        // no worker redrives) and a poison letter, both fresh.
        await harness.ExecuteAsync("""
            INSERT INTO invalidator_dead_letters (kind, reason, payload, created_at)
                SELECT 'poison', 'old', '{}', now() - interval '1 day' FROM generate_series(1, 2500);
            INSERT INTO invalidator_dead_letters (kind, region, reason, payload, redriven_at) VALUES ('region', 'pgeast', 'redriven', '{}', now());
            INSERT INTO invalidator_dead_letters (kind, region, reason, payload) VALUES ('region', 'gone', 'pending', '{}');
            INSERT INTO invalidator_dead_letters (kind, reason, payload) VALUES ('poison', 'fresh', '{}');
            """);

        await Eventually.AssertAsync(
            async () => await harness.ScalarAsync<long>("SELECT count(*) FROM invalidator_dead_letters") == 2,
            Deadline,
            "the old and the redriven rows are purged");
        Assert.Equal("fresh,pending", await harness.ScalarAsync<string>("SELECT string_agg(reason, ',' ORDER BY reason) FROM invalidator_dead_letters"));
        await Eventually.AssertAsync(
            () => harness.Logs.Entries.Where(e => e.EventId == 8080).Sum(e => int.Parse(e.Message.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture)) == 2501,
            Deadline,
            "the purge says how many rows it deleted");
    }

    [Fact]
    public async Task With_Redact_a_poison_row_keeps_only_the_key_and_the_reason_and_without_it_the_row_data_that_fits()
    {
        var insert = "INSERT INTO people VALUES (7, 'carol@example.com', repeat('b', 3000))";
        foreach (var redact in new[] { true, false })
        {
            var name = redact ? "pgredact" : "pgredactctl";
            await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, name, Schema($"pub_{name}"));
            harness.Settings["Invalidator:DeadLetter:MaxRecordBytes"] = "1024";
            harness.Settings["Invalidator:DeadLetter:Redact"] = redact ? "true" : "false";
            await harness.StartAsync();
            await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams");

            await harness.ExecuteAsync(insert);
            await Eventually.AssertAsync(
                async () => await harness.ScalarAsync<long>("SELECT count(*) FROM invalidator_dead_letters WHERE kind = 'poison'") == 1,
                Deadline,
                "the oversized change is dead-lettered");
            var reason = await harness.ScalarAsync<string>("SELECT reason FROM invalidator_dead_letters");
            var payload = await harness.ScalarAsync<string>("SELECT payload::text FROM invalidator_dead_letters");
            Assert.Contains("MaxRecordBytes", reason, StringComparison.Ordinal);
            using var json = JsonDocument.Parse(payload);
            Assert.Equal("7", json.RootElement.GetProperty("key").GetProperty("id").GetString());
            if (redact)
            {
                Assert.DoesNotContain("carol", payload, StringComparison.Ordinal);
                Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("after").ValueKind);
                Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("before").ValueKind);
            }
            else
            {
                Assert.Equal("carol@example.com", json.RootElement.GetProperty("after").GetProperty("email").GetString());
            }
        }
    }
}
