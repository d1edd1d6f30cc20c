using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.Extensions.DependencyInjection;
using Invalidator.Worker.Events;
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

    /// <param name="replica">
    /// With a streaming standby as the one read replica and <c>Invalidator:Consistency:WaitForReplicas=true</c> (issue 19),
    /// its replay paused while the backlog is written: <see cref="StandbyCase.KeepingUp"/> resumes it at the worker's
    /// first record (it replays the backlog long before the worker drains it: the waits find it there),
    /// <see cref="StandbyCase.Behind"/> only once every record's first delete is applied (every batch waits, and the replica is polled
    /// as often as it is while anything waits, for the whole drain). The drain then ends when every key was deleted
    /// again after the standby too (the replica delete holds no slot).
    /// </param>
    public static async Task RunAsync(Scale scale, PerfReport report, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides, StandbyCase replica = StandbyCase.None)
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
        await using var standby = replica != StandbyCase.None ? await StartPausedStandbyAsync(postgres).ConfigureAwait(false) : null;

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

            if (standby is not null)
            {
                // The worker asks the standby only for its replay position, the same in every database.
                settings["Invalidator:Consistency:ReadReplicas:standby"] = standby.ConnectionString("postgres");
                settings["Invalidator:Consistency:WaitForReplicas"] = "true";
                // No wait gives up while the replay is held back on purpose.
                settings["Invalidator:Consistency:ReplicaWaitMax"] = "00:05:00";
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
                var polls = new ReplicaPolls();
                long? standbyCommitsBefore = standby is null ? null : await StandbyCommitsAsync(standby).ConfigureAwait(false);
                long? caughtUpAt;
                long pollsAtFirst = 0;
                long? pollsAtConfirmed = null;
                long pollsAtEnd;
                CpuMeter? cpu = null;
                Task resumed = Task.CompletedTask;
                double workerCpu, redisCpu;
                long keysDeleted, keysFound, replicaDeleted;
                long? first;
                using (var host = WorkerHost.Build(directory, settings, [applied], [polls]))
                {
                    using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>(), () =>
                    {
                        // On the consume loop, once: CPU and polls from the first record (not the host's start and JIT).
                        cpu = CpuMeter.Start(regions);
                        pollsAtFirst = polls.Count;
                        if (replica == StandbyCase.KeepingUp && standby is not null)
                        {
                            resumed = Task.Run(() => standby.ExecuteAsync("postgres", "SELECT pg_wal_replay_resume()"));
                        }
                    });
                    await host.StartAsync().ConfigureAwait(false);
                    try
                    {
                        if (replica == StandbyCase.Behind && standby is not null)
                        {
                            // The slot is confirmed only past batches whose replica delete is done: resume once every
                            // record's first delete is applied, every batch then waiting for the standby.
                            if (await WaitForAsync(() => applied.AllAppliedAt is not null, TimeSpan.FromMinutes(3)).ConfigureAwait(false) is not null)
                            {
                                pollsAtConfirmed = polls.Count;
                                await standby.ExecuteAsync("postgres", "SELECT pg_wal_replay_resume()").ConfigureAwait(false);
                            }
                        }

                        caughtUpAt = await WaitForConfirmedAsync(connectionString, "directdrain", endLsn, TimeSpan.FromMinutes(3)).ConfigureAwait(false);
                        if (caughtUpAt is not null && standby is not null)
                        {
                            caughtUpAt = await WaitForAsync(() => polls.ReplicaDeleted >= rows * 3L * regions.Length, TimeSpan.FromMinutes(3)).ConfigureAwait(false);
                        }
                    }
                    finally
                    {
                        pollsAtEnd = polls.Count;
                        (workerCpu, redisCpu) = cpu?.PerRecord(rows) ?? (double.NaN, double.NaN);
                        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                        await host.StopAsync(timeout.Token).ConfigureAwait(false);
                        await resumed.ConfigureAwait(false);
                    }

                    (keysDeleted, keysFound, replicaDeleted, first) = (counters.KeysDeleted, counters.KeysFound, polls.ReplicaDeleted, counters.FirstRecordAt);
                }

                long left = 0;
                foreach (var admin in admins)
                {
                    left += (long)await admin.GetDatabase().ExecuteAsync("DBSIZE").ConfigureAwait(false);
                }

                var elapsed = Stopwatch.GetElapsedTime(first ?? Stopwatch.GetTimestamp(), caughtUpAt ?? Stopwatch.GetTimestamp());
                var label = replica switch
                {
                    StandbyCase.KeepingUp => ", waiting for a streaming standby that keeps up (WaitForReplicas=true)",
                    StandbyCase.Behind => ", waiting for a streaming standby whose replay resumes only once every record's first delete is applied (WaitForReplicas=true)",
                    _ => "",
                };
                var end = standby is null ? "slot confirmed past the last update" : "slot confirmed and every key deleted again after the standby";
                report.Add(Part, $"**{rows:N0} row updates from a WAL backlog, 2 regions, REPLICA IDENTITY FULL{label}**", rows / elapsed.TotalSeconds, "changes/s",
                    $"{(caughtUpAt is null ? "TIMED OUT; " : "")}first change -> {end} {elapsed.TotalSeconds:F2} s; 3 keys a change; " +
                    $"{keysDeleted:N0} keys UNLINKed over both regions ({keysFound:N0} existed), keys left in Redis: {left:N0}; {applied.Batches} batches");
                var replicaNote = "";
                if (standby is not null)
                {
                    // The backends flush their statistics at most once a second, and at exit: the host is disposed (its pools closed).
                    await Task.Delay(TimeSpan.FromSeconds(1.5)).ConfigureAwait(false);
                    var commits = await StandbyCommitsAsync(standby).ConfigureAwait(false) - standbyCommitsBefore;
                    replicaNote = $"; replica polls during the drain {pollsAtEnd - pollsAtFirst:N0} ({(pollsAtEnd - pollsAtFirst) / Math.Max(0.001, elapsed.TotalSeconds):F0}/s) " +
                        $"for {applied.Batches} batches{(pollsAtConfirmed is { } atConfirmed ? $" ({atConfirmed - pollsAtFirst:N0} until every record's first delete was applied and the replay resumed)" : "")}, {polls.Count:N0} over the host's life, {polls.Expired:N0} waits expired, the standby's xact_commit rose by {commits:N0}; {replicaDeleted:N0} keys deleted again after the standby";
                }

                report.Add(Part, $"**direct drain{(replica switch { StandbyCase.KeepingUp => ", standby keeping up", StandbyCase.Behind => ", standby behind", _ => "" })}: worker CPU**", workerCpu, "µs/record",
                    $"this process (the worker host) from its first record to the end above; the redis-servers {redisCpu:F1} µs/record{replicaNote}");
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

    /// <summary>A standby of <paramref name="primary"/> (no apply delay) with its replay paused: what is written next waits in its WAL.</summary>
    private static async Task<PostgresServerProcess> StartPausedStandbyAsync(PostgresServerProcess primary)
    {
        Console.WriteLine("direct: starting a streaming standby, its replay paused ...");
        var standby = await primary.StartStandbyAsync(TimeSpan.Zero).ConfigureAwait(false);
        await standby.ExecuteAsync("postgres", "SELECT pg_wal_replay_pause()").ConfigureAwait(false);
        return standby;
    }

    /// <summary>Transactions committed on the standby in the database the worker polls (read from another one).</summary>
    private static async Task<long> StandbyCommitsAsync(PostgresServerProcess standby)
    {
        await using var connection = new NpgsqlConnection(standby.ConnectionString("template1"));
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT xact_commit FROM pg_stat_database WHERE datname = 'postgres'", connection);
        return (long)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
    }

    private static async Task<long?> WaitForAsync(Func<bool> done, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < limit)
        {
            if (done())
            {
                return Stopwatch.GetTimestamp();
            }

            await Task.Delay(10).ConfigureAwait(false);
        }

        return null;
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

/// <summary>The worker's replica polls (one event each) and the keys it deleted again after the replicas.</summary>
internal sealed class ReplicaPolls : IEventListener<ReplicaPolled>, IEventListener<RegionReplicaDeleted>, IEventListener<ReplicaWaitExpired>
{
    private long _count;
    private long _replicaDeleted;
    private long _expired;

    public long Expired => Interlocked.Read(ref _expired);

    public void On(in ReplicaWaitExpired e) => Interlocked.Increment(ref _expired);

    public long Count => Interlocked.Read(ref _count);

    public long ReplicaDeleted => Interlocked.Read(ref _replicaDeleted);

    public void On(in ReplicaPolled e) => Interlocked.Increment(ref _count);

    public void On(in RegionReplicaDeleted e) => Interlocked.Add(ref _replicaDeleted, e.KeysDeleted);
}

/// <summary>The direct drain's read replica: none, a standby that keeps up, or one whose replay waits for the end of the drain.</summary>
internal enum StandbyCase
{
    None,
    KeepingUp,
    Behind,
}
