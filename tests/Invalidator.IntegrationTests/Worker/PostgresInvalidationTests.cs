using System.Collections.Concurrent;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.Worker.Processing;
using Microsoft.Extensions.Hosting;
using Npgsql;
using NpgsqlTypes;
using StackExchange.Redis;

using static Invalidator.IntegrationTests.Worker.CachedKeys;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>The worker end to end in direct mode: SQL on a real PostgreSQL, logical replication, deletes in two real Redis servers.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresInvalidationTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.customers:
            keys:
              - "customer:{id}"
              - "customer:email:{email|lower}"
            tags: ["tenant:{tenant_id}"]
            truncate: ["customers:all"]
          public.orders:
            keys: ["order:{id}"]
            truncate: ["orders:recent"]
        """;

    private static string Schema(string publication) => $"""
        CREATE TABLE customers (id int PRIMARY KEY, email text NOT NULL, name text, tenant_id int);
        ALTER TABLE customers REPLICA IDENTITY FULL;
        CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int);
        CREATE TABLE audit (id serial PRIMARY KEY, note text);
        CREATE PUBLICATION {publication} FOR TABLE customers, orders;
        """;

    private static Task<PostgresWorkerHarness> CreateHarnessAsync(PostgresFixture fixture, string name) =>
        PostgresWorkerHarness.CreateAsync(fixture, Rules, name, Schema($"pub_{name}"));

    [Fact]
    public async Task Inserts_updates_deletes_and_truncates_through_sql_delete_their_keys_in_both_regions()
    {
        await using var harness = await CreateHarnessAsync(fixture, "crud");
        var regions = await fixture.ConnectRegionsAsync();
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker creates its slot and streams from it");

        await SetAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com", "customer:2", "order:9"]);
        await harness.ExecuteAsync("INSERT INTO customers VALUES (1, 'Ann@Example.com', 'Ann', 3)");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com"]), Deadline,
            "an insert deletes the row's keys (a cache may hold a negative entry)");
        Assert.True(await AllExistAsync(regions, harness.KeyPrefix, ["customer:2", "order:9"]), "keys of other rows stay");

        // An email change: REPLICA IDENTITY FULL sends the old row, so the old email's key goes too.
        await SetAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com", "customer:email:ann@new.example"]);
        await harness.ExecuteAsync("UPDATE customers SET email = 'ann@new.example' WHERE id = 1");
        await Eventually.AssertAsync(
            () => NoneExistAsync(regions, harness.KeyPrefix, ["customer:1", "customer:email:ann@example.com", "customer:email:ann@new.example"]),
            Deadline, "an update deletes the id key and the old and new email keys");

        // Default identity: a delete carries the primary key, which is all order:{id} needs.
        await harness.ExecuteAsync("INSERT INTO orders VALUES (9, 1)");
        await SetAsync(regions, harness.KeyPrefix, ["order:9"]);
        await harness.ExecuteAsync("DELETE FROM orders WHERE id = 9");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["order:9"]), Deadline, "a delete deletes the row's key");

        await SetAsync(regions, harness.KeyPrefix, ["customers:all", "orders:recent", "customer:2"]);
        await harness.ExecuteAsync("TRUNCATE customers");
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["customers:all"]), Deadline,
            "a truncate deletes the rule's truncate keys");
        Assert.True(await AllExistAsync(regions, harness.KeyPrefix, ["orders:recent", "customer:2"]), "another table's truncate keys and row keys stay");
    }

    [Fact]
    public async Task A_crash_between_delete_and_confirm_leaves_the_transaction_in_the_slot_and_the_restart_reapplies_it()
    {
        await using var harness = await CreateHarnessAsync(fixture, "crash");
        // Written before the slot exists, so the first worker's only batch is the update below.
        await harness.ExecuteAsync("INSERT INTO customers VALUES (3, 'c@d.e', 'C', 1)");
        var regions = await fixture.ConnectRegionsAsync();
        string[] keys = ["customer:3", "customer:email:c@d.e", "customer:email:new@d.e"];

        var crash = new CrashAfterApply();
        var first = await harness.StartAsync(crash);
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the first worker streams from its slot");
        await SetAsync(regions, harness.KeyPrefix, keys);
        await harness.ExecuteAsync("UPDATE customers SET email = 'new@d.e' WHERE id = 3");

        await Eventually.AssertAsync(() => crash.Crashed, Deadline, "the first worker applies the batch and crashes before confirming");
        Assert.True(await NoneExistAsync(regions, harness.KeyPrefix, keys), "the deletes happened before the crash");
        await CrashAfterApply.WaitForStopAsync(first, Deadline);
        await Eventually.AssertAsync(async () => !await harness.SlotActiveAsync(), Deadline, "the crashed worker's replication session ends");

        // The slot still holds the transaction: confirmed_flush_lsn did not move past its commit.
        var (pending, commitLsn) = await PeekAsync(harness);
        Assert.True(pending > 0, "the unconfirmed transaction is still in the slot");
        Assert.True(await harness.ConfirmedFlushAsync() < commitLsn, "confirmed_flush_lsn is before the crashed batch's commit");

        // A reader re-populates from the old row; the restarted worker must apply the change again.
        await SetAsync(regions, harness.KeyPrefix, keys);
        await harness.StartAsync();

        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, keys), Deadline, "the restarted worker re-applies the unconfirmed transaction");
        await Eventually.AssertAsync(async () => await harness.ConfirmedFlushAsync() >= commitLsn, Deadline, "and then confirms it");
    }

    [Fact]
    public async Task Positions_are_confirmed_after_apply_and_the_slot_holds_no_wal_once_caught_up()
    {
        await using var harness = await CreateHarnessAsync(fixture, "confirm");
        var regions = await fixture.ConnectRegionsAsync();
        await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await SetAsync(regions, harness.KeyPrefix, ["customer:5"]);
        await harness.ExecuteAsync("INSERT INTO customers VALUES (5, 'e@f.g', 'E', 1)");
        var afterInsert = await CurrentLsnAsync(harness);
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["customer:5"]), Deadline, "the insert is applied");
        await Eventually.AssertAsync(async () => await harness.ConfirmedFlushAsync() >= afterInsert, Deadline, "the applied transaction is confirmed");

        // A logical message and lots of WAL the publication does not cover: nothing to delete, nothing to keep.
        await SetAsync(regions, harness.KeyPrefix, ["customer:6"]);
        await harness.ExecuteAsync("SELECT pg_logical_emit_message(true, 'invalidator-test', '{\"note\": \"hello\"}')");
        await harness.ExecuteAsync("INSERT INTO audit (note) SELECT md5(g::text) FROM generate_series(1, 50000) g");
        var afterUnrelated = await CurrentLsnAsync(harness);
        Assert.True((ulong)afterUnrelated - (ulong)afterInsert > 2_000_000, "the unrelated writes produced megabytes of WAL");

        // restart_lsn moves at running-xacts records, which checkpoints write; the worker must confirm past them
        // although none of them carried a change for it.
        TimeSpan? lastCheckpoint = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Eventually.AssertAsync(
            async () =>
            {
                if (lastCheckpoint is null || clock.Elapsed - lastCheckpoint > TimeSpan.FromMilliseconds(300))
                {
                    await harness.ExecuteAsync("CHECKPOINT");
                    lastCheckpoint = clock.Elapsed;
                }

                var (restart, confirmed) = await SlotPositionsAsync(harness);
                return restart >= afterUnrelated && confirmed >= afterUnrelated;
            },
            Deadline,
            "restart_lsn and confirmed_flush_lsn pass the unrelated WAL, so the slot no longer retains it");
        var retained = await harness.ScalarAsync<decimal>($"SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) FROM pg_replication_slots WHERE slot_name = '{harness.Slot}'");
        Assert.True(retained < 1_000_000, $"the slot retains {retained} bytes of WAL after catching up");
        Assert.True(await AllExistAsync(regions, harness.KeyPrefix, ["customer:6"]), "a logical message deletes nothing");
    }

    [Fact]
    public async Task A_transaction_larger_than_a_batch_is_applied_in_parts_but_confirmed_only_once_whole()
    {
        await using var harness = await CreateHarnessAsync(fixture, "bigtx");
        harness.Settings["Invalidator:Batching:MaxRecords"] = "10";
        var regions = await fixture.ConnectRegionsAsync();
        var keys = Enumerable.Range(1, 25).Select(i => $"order:{i}").ToArray();

        // Batch 1 is a whole transaction; batch 2 the first 10 rows of a 25-row one, after which the worker dies:
        // nothing of that transaction may be confirmed.
        var crash = new CrashAfterApply(2);
        var first = await harness.StartAsync(crash);
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the first worker streams from its slot");
        await harness.ExecuteAsync("INSERT INTO customers VALUES (1, 'a@b.c', 'A', 1)"); // a whole transaction before
        await Eventually.AssertAsync(() => crash.Batches >= 1, Deadline, "the first transaction is applied");
        await SetAsync(regions, harness.KeyPrefix, keys);
        await harness.ExecuteAsync("INSERT INTO orders SELECT g, 1 FROM generate_series(1, 25) g");

        await Eventually.AssertAsync(() => crash.Crashed, Deadline, "the worker applies part of the transaction and crashes");
        await CrashAfterApply.WaitForStopAsync(first, Deadline);
        await Eventually.AssertAsync(async () => !await harness.SlotActiveAsync(), Deadline, "the crashed worker's session ends");
        var (pending, commitLsn) = await PeekAsync(harness);
        Assert.True(pending >= 25, $"the whole transaction is still in the slot ({pending} messages)");
        Assert.True(await harness.ConfirmedFlushAsync() < commitLsn, "confirmed_flush_lsn is before the partly applied transaction");

        await SetAsync(regions, harness.KeyPrefix, keys);
        await harness.StartAsync();
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, keys), Deadline, "the restarted worker applies all 25 rows");
        await Eventually.AssertAsync(async () => await harness.ConfirmedFlushAsync() >= commitLsn, Deadline, "and confirms the transaction");
    }

    [Fact]
    public async Task A_lost_replication_connection_is_reestablished_and_streaming_continues()
    {
        await using var harness = await CreateHarnessAsync(fixture, "reconnect");
        await harness.ExecuteAsync("INSERT INTO customers VALUES (7, 'g@h.i', 'G', 1)");
        var regions = await fixture.ConnectRegionsAsync();
        var host = await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");
        var firstSession = await harness.ScalarAsync<int>($"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{harness.Slot}'");

        // The server ends the worker's replication session (as a restart or failover would).
        Assert.True(await harness.ScalarAsync<bool>($"SELECT pg_terminate_backend({firstSession})"));
        await SetAsync(regions, harness.KeyPrefix, ["customer:7"]);
        await harness.ExecuteAsync("UPDATE customers SET name = 'G2' WHERE id = 7");

        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["customer:7"]), Deadline,
            "the worker reconnects and applies the change made while it was disconnected");
        var secondSession = await harness.ScalarAsync<int>($"SELECT active_pid FROM pg_replication_slots WHERE slot_name = '{harness.Slot}'");
        Assert.NotEqual(firstSession, secondSession);
        var lifetime = (IHostApplicationLifetime)host.Services.GetService(typeof(IHostApplicationLifetime))!;
        Assert.False(lifetime.ApplicationStopping.IsCancellationRequested, "a lost connection does not stop the worker");
    }

    [Fact]
    public async Task An_unchanged_toasted_value_is_unavailable_and_never_rendered_into_a_key()
    {
        const string rules = """
            tables:
              public.docs:
                keys: ["doc:{id}", "doc:{id}:title:{title}", "doc:{id}:body:{body}"]
            """;
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, rules, "toast", """
            CREATE TABLE docs (id int PRIMARY KEY, title text, body text);
            CREATE PUBLICATION pub_toast FOR TABLE docs;
            """);
        // Random hex does not compress below the TOAST threshold, so the body is stored out of line.
        await harness.ExecuteAsync("INSERT INTO docs SELECT 1, 'first', string_agg(md5(random()::text), '') FROM generate_series(1, 300)");
        var batches = new ConcurrentQueue<string[]>();
        await harness.StartAsync(new BatchKeys(batches));
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await harness.ExecuteAsync("UPDATE docs SET title = 'second' WHERE id = 1");

        await Eventually.AssertAsync(() => !batches.IsEmpty, Deadline, "the update is applied");
        Assert.True(batches.TryDequeue(out var keys));
        Assert.Equal(["doc:1", "doc:1:title:second"], keys.Order(StringComparer.Ordinal));
    }

    private static async Task<NpgsqlLogSequenceNumber> CurrentLsnAsync(PostgresWorkerHarness harness) =>
        await harness.ScalarAsync<NpgsqlLogSequenceNumber>("SELECT pg_current_wal_lsn()");

    private static async Task<(NpgsqlLogSequenceNumber Restart, NpgsqlLogSequenceNumber Confirmed)> SlotPositionsAsync(PostgresWorkerHarness harness)
    {
        await using var connection = new NpgsqlConnection(harness.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT restart_lsn, confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = $1", connection)
        {
            Parameters = { new() { Value = harness.Slot } },
        };
        await using var reader = await command.ExecuteReaderAsync();
        Assert.True(await reader.ReadAsync(), "the slot exists");
        return (reader.GetFieldValue<NpgsqlLogSequenceNumber>(0), reader.GetFieldValue<NpgsqlLogSequenceNumber>(1));
    }

    /// <summary>What the (inactive) slot would stream now, without consuming it: the number of messages and the last one's LSN.</summary>
    private static async Task<(long Count, NpgsqlLogSequenceNumber Last)> PeekAsync(PostgresWorkerHarness harness)
    {
        await using var connection = new NpgsqlConnection(harness.ConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(
            "SELECT count(*), max(lsn) FROM pg_logical_slot_peek_binary_changes($1, NULL, NULL, 'proto_version', '1', 'publication_names', $2)", connection)
        {
            Parameters = { new() { Value = harness.Slot }, new() { Value = harness.Publication } },
        };
        await using var reader = await command.ExecuteReaderAsync();
        await reader.ReadAsync();
        var count = reader.GetInt64(0);
        return (count, count == 0 ? default : reader.GetFieldValue<NpgsqlLogSequenceNumber>(1));
    }

    /// <summary>The keys of each applied batch, in order.</summary>
    private sealed class BatchKeys(ConcurrentQueue<string[]> batches) : IBatchListener
    {
        public void OnApplied(SourceBatch batch) => batches.Enqueue([.. batch.Invalidations.Keys]);
    }
}
