using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Invalidator.Core.Rules;
using Invalidator.Worker.Probe;
using Microsoft.Extensions.DependencyInjection;
using Invalidator.Worker.Events;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// Direct mode drain from a WAL backlog: a table with REPLICA IDENTITY FULL, a slot created while no worker runs, then
/// N row updates (each changes the row's email, so 3 keys a change: the id, the old and the new email) committed in
/// transactions of 1,000; then the real worker host starts in direct mode with two regions. Changes/s from its first
/// record until the slot's confirmed position reaches the WAL position after the last update. A <see cref="DirectCase"/>
/// varies it: a read replica to wait for (issue 19), the freshness probe on (issue 20; the canary table is in the
/// publication in every case, so only <c>Invalidator:Probe:Enabled</c> differs), or the updates written at a fixed rate
/// into the running worker instead of as a backlog.
/// </summary>
internal static class DirectDrainBenchmark
{
    private const string Part = "direct";

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
        """;

    /// <param name="run">
    /// <see cref="DirectCase.Standby"/>: with a streaming standby as the one read replica and <c>Invalidator:Consistency:WaitForReplicas=true</c> (issue 19),
    /// its replay paused while the backlog is written: <see cref="StandbyCase.KeepingUp"/> resumes it at the worker's
    /// first record (it replays the backlog long before the worker drains it: the waits find it there),
    /// <see cref="StandbyCase.Behind"/> only once every record's first delete is applied (every batch waits, and the replica is polled
    /// as often as it is while anything waits, for the whole drain). The drain then ends when every key was deleted
    /// again after the standby too (the replica delete holds no slot).
    /// </param>
    public static async Task<DirectDrainResult> RunAsync(Scale scale, PerfReport report, RedisServerProcess[] regions, IReadOnlyDictionary<string, string?> overrides, DirectCase run)
    {
        var replica = run.Standby;
        var rows = run.Idle is null ? run.Rows ?? (scale.IsQuick ? 20_000 : 200_000) : 0;
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
            {CanaryTable.Ddl(CanaryRule.DefaultTable)}
            CREATE PUBLICATION directdrain FOR TABLE customers, {CanaryRule.DefaultTable};
            """).ConfigureAwait(false);
        // In a transaction of its own: a slot cannot be created in one that wrote.
        await postgres.ExecuteAsync(database, "SELECT pg_create_logical_replication_slot('directdrain', 'pgoutput')").ConfigureAwait(false);
        if (run.Recvlogical)
        {
            if (run.OfferedPerSecond is not null || run.Idle is not null)
            {
                throw new ArgumentException("the pg_recvlogical baseline needs a backlog", nameof(run));
            }

            // A copy starts at the worker's slot's very position: both read exactly the backlog's changes.
            await postgres.ExecuteAsync(database, $"SELECT pg_copy_logical_replication_slot('directdrain', '{RecvlogicalSlot}')").ConfigureAwait(false);
        }

        await using var standby = replica != StandbyCase.None ? await StartPausedStandbyAsync(postgres).ConfigureAwait(false) : null;

        var prefix = "direct:";
        // FLUSHDB needs admin mode; long timeouts: populating sends hundreds of MSETs at once, which a loaded machine may take seconds to answer.
        var admins = await Task.WhenAll(regions.Select(r => ConnectionMultiplexer.ConnectAsync(r.ConnectionString + ",allowAdmin=true,asyncTimeout=120000,syncTimeout=120000"))).ConfigureAwait(false);
        try
        {
            foreach (var admin in admins)
            {
                var db = admin.GetDatabase();
                // The runs share the servers: what one left (the applied position, a last canary) is not counted in the next.
                await db.ExecuteAsync("FLUSHDB").ConfigureAwait(false);
                await Task.WhenAll(Enumerable.Range(1, rows)
                    .SelectMany(id => new[] { $"customer:{id}", $"customer:email:old.{id}@example.com", $"customer:email:new.{id}@example.com" })
                    .Chunk(1000)
                    .Select(chunk => db.StringSetAsync([.. chunk.Select(k => new KeyValuePair<RedisKey, RedisValue>(prefix + k, "{\"cached\":true}"))]))).ConfigureAwait(false);
            }

            string? endLsn = null;
            if (run.OfferedPerSecond is null && run.Idle is null)
            {
                Console.WriteLine($"direct: {rows:N0} updates in transactions of {perTransaction:N0} while no worker runs ...");
                (endLsn, var took) = await WriteUpdatesAsync(connectionString, rows, perTransaction, null).ConfigureAwait(false);
                Console.WriteLine($"direct: written in {took.TotalSeconds:F2} s ({rows / took.TotalSeconds:N0} changes/s)");
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

            if (run.ProbeInterval is { } interval)
            {
                // The defaults otherwise (objective 1 s, deadline 60 s); direct mode writes the canary row through the source's connection.
                settings["Invalidator:Probe:Enabled"] = "true";
                settings["Invalidator:Probe:Interval"] = interval.ToString("c", CultureInfo.InvariantCulture);
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
                var canaries = new CanaryTally();
                long? standbyCommitsBefore = standby is null ? null : await StandbyCommitsAsync(standby).ConfigureAwait(false);
                long? caughtUpAt = null;
                long pollsAtFirst = 0;
                long? pollsAtConfirmed = null;
                long pollsAtEnd;
                long? lastWriteAt = null;
                TimeSpan written = TimeSpan.Zero;
                string probeNote = "";
                long? idleFrom = null;
                CpuMeter? cpu = null;
                Task resumed = Task.CompletedTask;
                double workerCpu, redisCpu;
                long keysDeleted, keysFound, replicaDeleted;
                long? first;
                using (var host = WorkerHost.Build(directory, settings, [applied], [polls, canaries]))
                {
                    using var counters = new WorkerCounters(host.Services.GetRequiredService<IMeterFactory>(), () =>
                    {
                        // On the consume loop, once: CPU and polls from the first record (not the host's start and JIT).
                        // An idle run's records are the canaries alone: its window is its time instead.
                        if (run.Idle is null)
                        {
                            cpu = CpuMeter.Start(regions);
                        }

                        pollsAtFirst = polls.Count;
                        if (replica == StandbyCase.KeepingUp && standby is not null)
                        {
                            resumed = Task.Run(() => standby.ExecuteAsync("postgres", "SELECT pg_wal_replay_resume()"));
                        }
                    });
                    await host.StartAsync().ConfigureAwait(false);
                    try
                    {
                        if (run.OfferedPerSecond is { } perSecond)
                        {
                            // Written by this process (one statement a transaction: next to nothing beside the worker's CPU).
                            await WaitForAsync(() => SlotActive(connectionString, "directdrain"), TimeSpan.FromMinutes(1)).ConfigureAwait(false);
                            Console.WriteLine($"direct: {rows:N0} updates offered at {perSecond:N0}/s in transactions of {perTransaction:N0} into the running worker ...");
                            (endLsn, written) = await WriteUpdatesAsync(connectionString, rows, perTransaction, perSecond).ConfigureAwait(false);
                            lastWriteAt = Stopwatch.GetTimestamp();
                        }

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

                        if (run.Idle is { } idle)
                        {
                            await WaitForAsync(() => SlotActive(connectionString, "directdrain"), TimeSpan.FromMinutes(1)).ConfigureAwait(false);
                            Console.WriteLine($"direct: the worker streaming, no updates for {idle.TotalSeconds:F0} s ...");
                            // Settled first: the host's start (tiered JIT's background compiles) and the earlier runs' garbage are not the window's.
                            await Task.Delay(IdleSettle).ConfigureAwait(false);
                            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
                            GC.WaitForPendingFinalizers();
                            idleFrom = Stopwatch.GetTimestamp();
                            cpu = CpuMeter.Start(regions);
                            await Task.Delay(idle).ConfigureAwait(false);
                            caughtUpAt = Stopwatch.GetTimestamp();
                        }
                        else
                        {
                            caughtUpAt = await WaitForConfirmedAsync(connectionString, "directdrain", endLsn!, TimeSpan.FromMinutes(3)).ConfigureAwait(false);
                        }

                        if (caughtUpAt is not null && standby is not null)
                        {
                            caughtUpAt = await WaitForAsync(() => polls.ReplicaDeleted >= rows * 3L * regions.Length, TimeSpan.FromMinutes(3)).ConfigureAwait(false);
                        }
                    }
                    finally
                    {
                        pollsAtEnd = polls.Count;
                        (workerCpu, redisCpu) = cpu?.PerRecord(rows) ?? (double.NaN, double.NaN);
                        if (run.ProbeInterval is not null)
                        {
                            probeNote = await ProbeRoundsAsync(connectionString, canaries, regions.Length, idleFrom ?? counters.FirstRecordAt, caughtUpAt).ConfigureAwait(false);
                        }

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

                var elapsed = Stopwatch.GetElapsedTime(idleFrom ?? first ?? Stopwatch.GetTimestamp(), caughtUpAt ?? Stopwatch.GetTimestamp());
                var label = replica switch
                {
                    StandbyCase.KeepingUp => ", waiting for a streaming standby that keeps up (WaitForReplicas=true)",
                    StandbyCase.Behind => ", waiting for a streaming standby whose replay resumes only once every record's first delete is applied (WaitForReplicas=true)",
                    _ => "",
                } + ProbeLabel(run.ProbeInterval);
                var source = run.OfferedPerSecond is { } offered
                    ? $"offered at {offered:N0}/s (written at {rows / written.TotalSeconds:N0}/s) into the running worker"
                    : "from a WAL backlog";
                var behind = lastWriteAt is { } last && caughtUpAt is { } at ? $"; slot confirmed {Stopwatch.GetElapsedTime(last, at).TotalMilliseconds:F0} ms after the last update's commit" : "";
                var end = standby is null ? "slot confirmed past the last update" : "slot confirmed and every key deleted again after the standby";
                var changesPerSecond = rows / elapsed.TotalSeconds;
                if (run.Idle is not null)
                {
                    // CpuMeter's figures over no records are totals (µs): per second of the window, in ms.
                    var perSecond = workerCpu / 1e3 / elapsed.TotalSeconds;
                    var idleName = $"direct, idle worker{ProbeLabel(run.ProbeInterval)}";
                    report.Add(Part, $"**{idleName}: worker CPU**", perSecond, "ms/s",
                        $"this process (the worker host, the probe inside it) over {elapsed.TotalSeconds:F1} s of streaming with no updates; the redis-servers {redisCpu / 1e3 / elapsed.TotalSeconds:F2} ms/s; " +
                        $"{keysDeleted:N0} keys UNLINKed over both regions, keys left in Redis: {left:N0}");
                    if (run.ProbeInterval is not null)
                    {
                        report.Add(Part, $"**{idleName}: probe rounds**", canaries.Rounds, "rounds", probeNote);
                    }

                    return new(0, perSecond, canaries.RoundsIn(idleFrom ?? 0, caughtUpAt ?? long.MaxValue) / elapsed.TotalSeconds);
                }

                if (!run.Reported)
                {
                    Console.WriteLine($"direct: warm-up {rows:N0} changes{label}: {changesPerSecond:N0} changes/s, worker CPU {workerCpu:F1} µs/change (not reported)");
                    return new(changesPerSecond, workerCpu, canaries.RoundsIn(first ?? 0, caughtUpAt ?? long.MaxValue) / elapsed.TotalSeconds);
                }

                report.Add(Part, $"**{rows:N0} row updates {source}, 2 regions, REPLICA IDENTITY FULL{label}**", changesPerSecond, "changes/s",
                    $"{(caughtUpAt is null ? "TIMED OUT; " : "")}first change -> {end} {elapsed.TotalSeconds:F2} s{behind}; 3 keys a change; " +
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

                var name = $"direct {(run.OfferedPerSecond is { } rate ? $"at {rate:N0}/s" : "drain")}{(replica switch { StandbyCase.KeepingUp => ", standby keeping up", StandbyCase.Behind => ", standby behind", _ => "" })}{ProbeLabel(run.ProbeInterval)}";
                report.Add(Part, $"**{name}: worker CPU**", workerCpu, "µs/record",
                    $"this process (the worker host) from its first record to the end above; the redis-servers {redisCpu:F1} µs/record{replicaNote}");
                if (run.ProbeInterval is not null)
                {
                    report.Add(Part, $"**{name}: probe rounds**", canaries.Rounds, "rounds", probeNote);
                }

                if (run.Recvlogical)
                {
                    await RecvlogicalRowsAsync(postgres, database, report, rows, endLsn!, changesPerSecond).ConfigureAwait(false);
                }

                return new(changesPerSecond, workerCpu, canaries.RoundsIn(first ?? 0, caughtUpAt ?? long.MaxValue) / elapsed.TotalSeconds);
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

    private static readonly TimeSpan IdleSettle = TimeSpan.FromSeconds(3);

    private const string RecvlogicalSlot = "directdrain_recvlogical";

    /// <summary>
    /// pg_recvlogical on the backlog the worker just drained (after it: the worker is stopped, its walsender gone), from
    /// its own slot, then the slot dropped; its row and the worker's rate against it (issue 21 asks for at least 50%).
    /// </summary>
    private static async Task RecvlogicalRowsAsync(PostgresServerProcess postgres, string database, PerfReport report, int rows, string endLsn, double workerRate)
    {
        Console.WriteLine($"direct: pg_recvlogical on the same {rows:N0} changes, from slot {RecvlogicalSlot} to --endpos {endLsn} ...");
        RecvlogicalRun baseline;
        string confirmed;
        try
        {
            baseline = await RecvlogicalBaseline.RunAsync(postgres, database, RecvlogicalSlot, "directdrain", endLsn).ConfigureAwait(false);
            await using var connection = new NpgsqlConnection(postgres.ConnectionString(database));
            await connection.OpenAsync().ConfigureAwait(false);
            await using var command = new NpgsqlCommand("SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = $1", connection)
            {
                Parameters = { new() { Value = RecvlogicalSlot } },
            };
            confirmed = (string)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
        }
        finally
        {
            // Its walsender may outlive the client by a moment: an active slot cannot be dropped.
            await WaitForAsync(() => !SlotActive(postgres.ConnectionString(database), RecvlogicalSlot), TimeSpan.FromSeconds(30)).ConfigureAwait(false);
            await postgres.ExecuteAsync(database, $"SELECT pg_drop_replication_slot('{RecvlogicalSlot}')").ConfigureAwait(false);
        }

        Console.WriteLine($"direct: {baseline.CommandLine}");
        var rate = rows / baseline.FromFirstByte;
        report.Add(Part, $"direct drain: pg_recvlogical, {rows:N0} changes", rate, "changes/s",
            $"the server's pg_recvlogical, the worker's pgoutput options (proto_version=1, publication_names=directdrain, binary=false, messages=true), to /dev/null, " +
            $"from a slot copied from the worker's before the backlog was written, with --endpos {endLsn} (the WAL position after the last update) and --no-loop; " +
            $"run after the worker's drain, the worker stopped. Clock from its first write of output (its /proc/PID/io wchar, polled every 1 ms) to its exit: {baseline.FromFirstByte:F2} s; " +
            $"from its process start {baseline.FromStart:F2} s ({rows / baseline.FromStart:N0} changes/s), of which {baseline.ToFirstByte * 1e3:F0} ms before its first write (connection, slot start, the first transaction's decoding); " +
            $"its CPU {baseline.CpuSeconds:F2} s user + system, start to exit ({baseline.CpuSeconds * 1e6 / rows:F1} µs/change); the walsenders' CPU is in neither row; " +
            $"its slot confirmed {confirmed} at its exit, then dropped; command: `{baseline.CommandLine}`");
        report.Add(Part, "**direct drain / pg_recvlogical**", 100 * workerRate / rate, "%",
            "the worker's changes/s (first record -> slot confirmed past the last update, the row above) over pg_recvlogical's (first write -> exit); issue 21 asks for at least 50%");
    }

    private static string ProbeLabel(TimeSpan? interval) => interval is { } i
        ? $", probe every {(i < TimeSpan.FromSeconds(1) ? $"{i.TotalMilliseconds:F0} ms" : $"{i.TotalSeconds:0.#} s")}"
        : "";

    /// <summary>
    /// Commits <paramref name="rows"/> updates (each changes a row's email: 3 keys), <paramref name="perTransaction"/> a
    /// transaction, as fast as the server takes them or, with <paramref name="perSecond"/>, each transaction at its due
    /// time (one behind its time is sent at once: the rate is offered, and the time it took is returned).
    /// </summary>
    private static async Task<(string EndLsn, TimeSpan Took)> WriteUpdatesAsync(string connectionString, int rows, int perTransaction, int? perSecond)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        for (var from = 0; from < rows; from += perTransaction)
        {
            if (perSecond is { } rate && TimeSpan.FromSeconds((double)from / rate) - clock.Elapsed is { } wait && wait > TimeSpan.Zero)
            {
                await Task.Delay(wait).ConfigureAwait(false);
            }

            await using var update = new NpgsqlCommand("UPDATE customers SET email = 'new.' || id || '@example.com' WHERE id > $1 AND id <= $2", connection)
            {
                Parameters = { new() { Value = from }, new() { Value = from + perTransaction } },
            };
            await update.ExecuteNonQueryAsync().ConfigureAwait(false);
        }

        var took = clock.Elapsed;
        await using var lsn = new NpgsqlCommand("SELECT pg_current_wal_lsn()::text", connection);
        return ((string)(await lsn.ExecuteScalarAsync().ConfigureAwait(false))!, took);
    }

    private static bool SlotActive(string connectionString, string slot)
    {
        using var connection = new NpgsqlConnection(connectionString);
        connection.Open();
        using var command = new NpgsqlCommand("SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = $1), false)", connection)
        {
            Parameters = { new() { Value = slot } },
        };
        return (bool)command.ExecuteScalar()!;
    }

    /// <summary>
    /// The probe's rounds: those decided while the drain ran and, after it, those written during it (their changes queue
    /// behind the rest of the backlog), waited for until the last committed round is decided in every region (at most 15 s).
    /// </summary>
    private static async Task<string> ProbeRoundsAsync(string connectionString, CanaryTally canaries, int regions, long? first, long? end)
    {
        long lastSeq;
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync().ConfigureAwait(false);
            await using var command = new NpgsqlCommand($"SELECT coalesce(max(seq), -1) FROM {CanaryRule.DefaultTable}", connection);
            lastSeq = (long)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
        }

        var decided = lastSeq < 1 ? Stopwatch.GetTimestamp() : await WaitForAsync(() => canaries.Decided(lastSeq) >= regions, TimeSpan.FromSeconds(15)).ConfigureAwait(false);
        var (during, after) = canaries.Split(first ?? long.MaxValue, end ?? long.MaxValue);
        return $"{Math.Max(0, lastSeq):N0} rounds committed by the end, {canaries.Rounds:N0} measured; canaries decided in the measured window {during}; after it {after}" +
            $"{(decided is null ? $" (round {lastSeq} not decided in every region within 15 s)" : "")}; freshness {canaries.Freshness()}";
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

/// <summary>The probe's canaries as the worker measured them (its <see cref="CanaryMeasured"/> events), each when it was decided.</summary>
internal sealed class CanaryTally : IEventListener<CanaryMeasured>
{
    private readonly Lock _lock = new();
    private readonly List<(long At, long Seq, CanaryResult Result, TimeSpan? Freshness)> _measured = [];

    /// <summary>Rounds with at least one canary decided (the figure of the report's probe row).</summary>
    public int Rounds
    {
        get
        {
            lock (_lock)
            {
                return _measured.Select(m => m.Seq).Distinct().Count();
            }
        }
    }

    public void On(in CanaryMeasured e)
    {
        var seq = long.Parse(e.Canary.AsSpan(e.Canary.LastIndexOf(':') + 1), CultureInfo.InvariantCulture);
        lock (_lock)
        {
            _measured.Add((Stopwatch.GetTimestamp(), seq, e.Result, e.Freshness));
        }
    }

    /// <summary>Rounds with a canary decided between <paramref name="from"/> and <paramref name="to"/> (Stopwatch timestamps).</summary>
    public int RoundsIn(long from, long to)
    {
        lock (_lock)
        {
            return _measured.Where(m => m.At >= from && m.At <= to).Select(m => m.Seq).Distinct().Count();
        }
    }

    /// <summary>Canaries of rounds <paramref name="seq"/> and later decided so far.</summary>
    public int Decided(long seq)
    {
        lock (_lock)
        {
            return _measured.Count(m => m.Seq >= seq);
        }
    }

    /// <summary>ok / late / lost counts over both regions, decided between <paramref name="from"/> and <paramref name="to"/>, and after it.</summary>
    public (string During, string After) Split(long from, long to)
    {
        lock (_lock)
        {
            return (Counts(_measured.Where(m => m.At >= from && m.At <= to)), Counts(_measured.Where(m => m.At > to)));
        }

        static string Counts(IEnumerable<(long At, long Seq, CanaryResult Result, TimeSpan? Freshness)> measured)
        {
            var list = measured.ToList();
            return $"ok {list.Count(m => m.Result == CanaryResult.Ok)}, late {list.Count(m => m.Result == CanaryResult.Late)}, lost {list.Count(m => m.Result == CanaryResult.Lost)}";
        }
    }

    /// <summary>Commit to gone over every canary decided: median and max.</summary>
    public string Freshness()
    {
        lock (_lock)
        {
            var sorted = _measured.Where(m => m.Freshness is not null).Select(m => m.Freshness!.Value.TotalMilliseconds).Order().ToArray();
            return sorted.Length == 0 ? "none" : $"median {LatencySamples.Percentile(sorted, 50):F0} ms, max {sorted[^1]:F0} ms";
        }
    }
}

/// <summary>
/// One direct drain: its read replica, the freshness probe's interval (null: off), the updates offered at a fixed rate
/// into the running worker (null: a backlog written before it starts), the rows (null: the scale's), and whether it is
/// reported (a warm-up is not). <see cref="Idle"/> instead: no updates, the worker streams for this long and its CPU is
/// measured over that time (the probe's own cost, with nothing else to hide it). <see cref="Recvlogical"/>: after the
/// worker, pg_recvlogical drains the same backlog from a slot of its own (issue 21's baseline; a backlog run only).
/// </summary>
internal sealed record DirectCase(StandbyCase Standby = StandbyCase.None, TimeSpan? ProbeInterval = null, int? OfferedPerSecond = null, int? Rows = null, bool Reported = true, TimeSpan? Idle = null, bool Recvlogical = false);

/// <summary>
/// What the comparisons need of a drain: changes/s, the worker's CPU (µs per change; for an idle run ms per second) and
/// the probe's rounds measured per second.
/// </summary>
internal readonly record struct DirectDrainResult(double ChangesPerSecond, double WorkerCpu, double RoundsPerSecond);

/// <summary>The direct drain's read replica: none, a standby that keeps up, or one whose replay waits for the end of the drain.</summary>
internal enum StandbyCase
{
    None,
    KeepingUp,
    Behind,
}
