using System.Diagnostics;
using System.Globalization;
using Invalidator.RaceHarness;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Races;

/// <summary>
/// The Redis failover that loses a delete, with the real worker in direct mode and its region behind three Sentinels
/// (<c>serviceName=</c>): every row cached (version 0) and replicated; the replica frozen; every row updated, so the
/// worker deletes every key on the primary; once the worker has applied (or dead-lettered) every change, the primary
/// is SIGKILLed, the replica resumed and promoted; the keys back on it are counted; the old primary is restarted
/// as a replica of the new one and the worker's redrive of its dead letters awaited; then the keys
/// holding an older version than their row are counted again: those stay stale until their TTL.
/// </summary>
internal static class FailoverRace
{
    public const string Race = "Redis failover";
    private const int RowsPerUpdate = 20;

    public static async Task RunAsync(Scale scale, List<RaceRow> rows, IReadOnlyDictionary<string, string?> overrides)
    {
        var count = scale.IsQuick ? 400 : 2_000;
        Console.WriteLine($"race: Redis failover: {count:N0} rows cached, updated {RowsPerUpdate} per UPDATE while the replica is frozen; starting postgres ...");
        await using var postgres = await PostgresServerProcess.StartAsync().ConfigureAwait(false);
        foreach (var waitReplicas in new[] { 0, 1 })
        {
            rows.Add(await RunOnceAsync(postgres, count, waitReplicas, overrides).ConfigureAwait(false));
            Console.WriteLine($"race: {rows[^1]}");
        }
    }

    private static async Task<RaceRow> RunOnceAsync(PostgresServerProcess postgres, int count, int waitReplicas, IReadOnlyDictionary<string, string?> overrides)
    {
        var name = $"failover{waitReplicas}";
        var phases = Stopwatch.StartNew();
        Console.WriteLine($"race: Redis failover, WaitReplicas {waitReplicas}: starting a redis primary, its replica and three sentinels ...");
        await using var topology = await SentinelTopology.StartAsync(name).ConfigureAwait(false);
        var region = new Dictionary<string, string?>
        {
            ["Invalidator:Regions:bench:WaitReplicas"] = waitReplicas.ToString(CultureInfo.InvariantCulture),
            ["Invalidator:Regions:bench:WaitTimeout"] = "00:00:00.100",
            // Fail fast while the replica is away (one retry, then a dead letter), redrive soon after it is back.
            ["Invalidator:Regions:bench:Resilience:MaxRetryAttempts"] = "1",
            ["Invalidator:Regions:bench:Resilience:BaseDelay"] = "00:00:00.010",
            ["Invalidator:Regions:bench:Resilience:MaxDelay"] = "00:00:00.050",
            ["Invalidator:Regions:bench:Resilience:AttemptTimeout"] = "00:00:02",
            ["Invalidator:Regions:bench:Resilience:CircuitBreaker:BreakDuration"] = "00:00:00.500",
            ["Invalidator:DeadLetter:RedriveRetryInterval"] = "00:00:00.200",
        };
        var started = phases.Elapsed;
        await using var worker = await RaceWorkerHost.StartAsync(postgres, name, count, RaceMode.PlainDelete, topology.RegionRedis, region, overrides, quietRegions: true)
            .ConfigureAwait(false);
        var workerStarted = phases.Elapsed;
        var keys = Enumerable.Range(1, count).Select(id => (RedisKey)(worker.KeyPrefix + RaceTable.Key(id))).ToArray();
        foreach (var chunk in keys.Chunk(1_000))
        {
            await topology.PrimaryServer.ExecuteAsync("MSET", [.. chunk.SelectMany(k => new object[] { k, "0" })]).ConfigureAwait(false);
        }

        await topology.WaitUntilReplicatingAsync().ConfigureAwait(false);
        await topology.FreezeReplicaAsync().ConfigureAwait(false);
        var waitsBefore = await SentinelTopology.WaitCallsAsync(topology.PrimaryServer).ConfigureAwait(false);

        var clock = Stopwatch.StartNew();
        await using (var database = NpgsqlDataSource.Create(worker.ConnectionString))
        {
            foreach (var ids in Enumerable.Range(1, count).Chunk(RowsPerUpdate))
            {
                await using var command = database.CreateCommand("UPDATE race_items SET version = version + 1 WHERE id = ANY($1)");
                command.Parameters.Add(new NpgsqlParameter { Value = ids });
                await command.ExecuteNonQueryAsync().ConfigureAwait(false);
            }
        }

        await worker.WaitForWorkerAsync(TimeSpan.FromMinutes(2), CancellationToken.None).ConfigureAwait(false);
        var elapsed = clock.Elapsed;
        var waits = await SentinelTopology.WaitCallsAsync(topology.PrimaryServer).ConfigureAwait(false) - waitsBefore;
        var deletedOnPrimary = count - await CachedAsync(topology.PrimaryServer, keys).ConfigureAwait(false);

        var applied = phases.Elapsed;
        await topology.FailOverAsync().ConfigureAwait(false);
        var promoted = phases.Elapsed;
        var versions = await VersionsAsync(worker.ConnectionString).ConfigureAwait(false);
        var (_, backAfterFailover) = await CompareAsync(topology.ReplicaServer, keys, versions).ConfigureAwait(false);

        await topology.RestartOldPrimaryAsync().ConfigureAwait(false);
        await WaitForRedriveAsync(worker.ConnectionString).ConfigureAwait(false);
        var (cached, stale) = await CompareAsync(topology.ReplicaServer, keys, versions).ConfigureAwait(false);
        var redriven = phases.Elapsed;
        waits += await SentinelTopology.WaitCallsAsync(topology.ReplicaServer).ConfigureAwait(false);

        var retries = worker.Counters["invalidator_region_retries"];
        var letters = worker.Counters["invalidator_dead_letters"];
        Console.WriteLine($"race: Redis failover, WaitReplicas {waitReplicas}: {deletedOnPrimary:N0} of {count:N0} keys deleted on the primary before it died, " +
            $"{backAfterFailover:N0} stale keys back after the failover, {stale:N0} after the redrive ({letters:N0} batches dead-lettered); " +
            $"servers up {started.TotalSeconds:0.0} s, worker {workerStarted.TotalSeconds:0.0} s, applied {applied.TotalSeconds:0.0} s, promoted {promoted.TotalSeconds:0.0} s, redriven {redriven.TotalSeconds:0.0} s");
        return new RaceRow(
            Race,
            waitReplicas == 0 ? "none (WaitReplicas 0)" : "WaitReplicas 1",
            elapsed,
            versions.Values.Sum(),
            Populates: null,
            stale,
            cached,
            count,
            retries + letters == 0
                ? "none"
                : string.Create(CultureInfo.InvariantCulture, $"{retries:N0} retried attempts; {letters:N0} batches dead-lettered, redriven on the new primary"),
            waits == 0 ? "none" : string.Create(CultureInfo.InvariantCulture, $"{waits:N0} WAIT 1 (100 ms at most each)"),
            RefusedPopulates: null)
        {
            Note = string.Create(CultureInfo.InvariantCulture, $"{backAfterFailover:N0} back after the failover"),
        };
    }

    /// <summary>Each row's version, by id.</summary>
    private static async Task<Dictionary<int, long>> VersionsAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT id, version FROM race_items", connection);
        await using var result = await command.ExecuteReaderAsync().ConfigureAwait(false);
        var versions = new Dictionary<int, long>();
        while (await result.ReadAsync().ConfigureAwait(false))
        {
            versions[result.GetInt32(0)] = result.GetInt64(1);
        }

        return versions;
    }

    private static async Task<long> CachedAsync(IServer server, RedisKey[] keys)
    {
        long cached = 0;
        foreach (var chunk in keys.Chunk(1_000))
        {
            cached += (long)await server.ExecuteAsync("EXISTS", [.. chunk.Select(k => (object)k)]).ConfigureAwait(false);
        }

        return cached;
    }

    /// <summary>Keys <paramref name="server"/> holds, and how many of them hold an older version than their row.</summary>
    private static async Task<(long Cached, long Stale)> CompareAsync(IServer server, RedisKey[] keys, Dictionary<int, long> versions)
    {
        long cached = 0, stale = 0;
        var id = 1;
        foreach (var chunk in keys.Chunk(1_000))
        {
            var values = (RedisResult[])(await server.ExecuteAsync("MGET", [.. chunk.Select(k => (object)k)]).ConfigureAwait(false))!;
            foreach (var value in values)
            {
                if (!value.IsNull)
                {
                    cached++;
                    if (long.Parse((string)value!, CultureInfo.InvariantCulture) < versions[id])
                    {
                        stale++;
                    }
                }

                id++;
            }
        }

        return (cached, stale);
    }

    /// <summary>Waits until no region letter waits for its redrive (the worker's dead-letter table, direct mode).</summary>
    private static async Task WaitForRedriveAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var command = new NpgsqlCommand("SELECT count(*) FROM invalidator_dead_letters WHERE kind = 'region' AND redriven_at IS NULL", connection);
            var pending = (long)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
            if (pending == 0)
            {
                return;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(90))
            {
                throw new TimeoutException($"{pending} dead letters still wait for their redrive after 90 s");
            }

            await Task.Delay(100).ConfigureAwait(false);
        }
    }
}
