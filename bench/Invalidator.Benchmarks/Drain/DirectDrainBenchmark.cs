using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// Direct mode drain from a WAL backlog: a table with REPLICA IDENTITY FULL, a slot created while no worker runs, then
/// N row updates (each changes the row's email, so 3 keys a change: the id, the old and the new email) committed in
/// transactions of 1,000; then the real worker host starts in direct mode with two regions. Changes/s from its first
/// record until the slot's confirmed position reaches the WAL position after the last update.
/// </summary>
internal static class DirectDrainBenchmark
{
    private const string Part = "direct";

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
        """;

    public static async Task RunAsync(Scale scale, PerfReport report, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides)
    {
        var rows = scale.IsQuick ? 20_000 : 200_000;
        const int perTransaction = 1_000;
        Console.WriteLine("direct: starting postgres ...");
        await using var postgres = await PostgresServerProcess.StartAsync().ConfigureAwait(false);
        const string database = "directdrain";
        await postgres.ExecuteAsync("postgres", $"CREATE DATABASE {database}").ConfigureAwait(false);
        var connectionString = postgres.ConnectionString(database);
        await postgres.ExecuteAsync(database, $"""
            CREATE TABLE customers (id int PRIMARY KEY, first_name text NOT NULL, last_name text NOT NULL, email text NOT NULL,
                tenant_id int, active boolean NOT NULL, created_at timestamptz NOT NULL, notes text);
            ALTER TABLE customers REPLICA IDENTITY FULL;
            INSERT INTO customers SELECT g, 'Anne' || g, 'Kretchmar', 'Old.' || g || '@Example.com', g % 16, true, now(), NULL FROM generate_series(1, {rows}) g;
            CREATE PUBLICATION directdrain FOR TABLE customers;
            """).ConfigureAwait(false);
        // In a transaction of its own: a slot cannot be created in one that wrote.
        await postgres.ExecuteAsync(database, "SELECT pg_create_logical_replication_slot('directdrain', 'pgoutput')").ConfigureAwait(false);

        var prefix = "direct:";
        var admins = await Task.WhenAll(regions.Select(r => ConnectionMultiplexer.ConnectAsync(r.ConnectionString))).ConfigureAwait(false);
        try
        {
            foreach (var admin in admins)
            {
                var db = admin.GetDatabase();
                await Task.WhenAll(Enumerable.Range(1, rows)
                    .SelectMany(id => new[] { $"customer:{id}", $"customer:email:old.{id}@example.com", $"customer:email:new.{id}@example.com" })
                    .Chunk(1000)
                    .Select(chunk => db.StringSetAsync([.. chunk.Select(k => new KeyValuePair<RedisKey, RedisValue>(prefix + k, "{\"cached\":true}"))]))).ConfigureAwait(false);
            }

            Console.WriteLine($"direct: {rows:N0} updates in transactions of {perTransaction:N0} while no worker runs ...");
            string endLsn;
            await using (var connection = new NpgsqlConnection(connectionString))
            {
                await connection.OpenAsync().ConfigureAwait(false);
                for (var from = 0; from < rows; from += perTransaction)
                {
                    await using var update = new NpgsqlCommand("UPDATE customers SET email = 'new.' || id || '@example.com' WHERE id > $1 AND id <= $2", connection)
                    {
                        Parameters = { new() { Value = from }, new() { Value = from + perTransaction } },
                    };
                    await update.ExecuteNonQueryAsync().ConfigureAwait(false);
                }

                await using var lsn = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", connection);
                endLsn = (string)(await lsn.ExecuteScalarAsync().ConfigureAwait(false))!;
            }

            var settings = new Dictionary<string, string?>
            {
                ["Invalidator:Source"] = "Postgres",
                ["Invalidator:Postgres:ConnectionString"] = connectionString,
                ["Invalidator:Postgres:Publication"] = "directdrain",
                ["Invalidator:Postgres:Slot"] = "directdrain",
                ["Invalidator:Rules:Path"] = "rules.yaml",
            };
            for (var i = 0; i < regions.Length; i++)
            {
                settings[$"Invalidator:Regions:{(i == 0 ? "east" : "west")}:Redis"] = regions[i].ConnectionString;
                settings[$"Invalidator:Regions:{(i == 0 ? "east" : "west")}:KeyPrefix"] = prefix;
            }

            foreach (var (key, value) in overrides)
            {
                settings[key] = value;
            }

            var directory = Directory.CreateTempSubdirectory("invalidator-bench-direct-").FullName;
            try
            {
                await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), Rules).ConfigureAwait(false);
                var applied = new AppliedListener(rows);
                using var host = WorkerHost.Build(directory, settings, [applied]);
                using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>());
                await host.StartAsync().ConfigureAwait(false);
                long? caughtUpAt;
                try
                {
                    caughtUpAt = await WaitForConfirmedAsync(connectionString, "directdrain", endLsn, TimeSpan.FromMinutes(3)).ConfigureAwait(false);
                }
                finally
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await host.StopAsync(timeout.Token).ConfigureAwait(false);
                }

                long left = 0;
                foreach (var admin in admins)
                {
                    left += (long)await admin.GetDatabase().ExecuteAsync("DBSIZE").ConfigureAwait(false);
                }

                var first = counters.FirstRecordAt ?? Stopwatch.GetTimestamp();
                var elapsed = Stopwatch.GetElapsedTime(first, caughtUpAt ?? Stopwatch.GetTimestamp());
                report.Add(Part, $"**{rows:N0} row updates from a WAL backlog, 2 regions, REPLICA IDENTITY FULL**", rows / elapsed.TotalSeconds, "changes/s",
                    $"{(caughtUpAt is null ? "TIMED OUT; " : "")}first change -> slot confirmed past the last update {elapsed.TotalSeconds:F2} s; 3 keys a change; " +
                    $"{counters.KeysDeleted:N0} keys UNLINKed over both regions ({counters.KeysFound:N0} existed), keys left in Redis: {left:N0}; {applied.Batches} batches");
            }
            finally
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        finally
        {
            foreach (var admin in admins)
            {
                admin.Dispose();
            }
        }
    }

    private static async Task<long?> WaitForConfirmedAsync(string connectionString, string slot, string endLsn, TimeSpan limit)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            await using var command = new NpgsqlCommand(
                "SELECT coalesce((SELECT confirmed_flush_lsn >= $2::pg_lsn FROM pg_replication_slots WHERE slot_name = $1), false)", connection)
            {
                Parameters = { new() { Value = slot }, new() { Value = endLsn } },
            };
            if ((bool)(await command.ExecuteScalarAsync().ConfigureAwait(false))!)
            {
                return Stopwatch.GetTimestamp();
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        return null;
    }
}
