using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.RaceHarness;

/// <summary>
/// Runs the set-after-delete race on real servers and counts the stale keys it leaves. Writers update rows; readers do
/// cache-aside reads of random rows with a random pause between their database read and their populate. After the run
/// (writers and readers stop together; readers finish the populate they are in), the harness waits until the worker has
/// applied every write, then compares every cached key with its row: a cached version older than the row's is stale,
/// and stays stale until its TTL, because no further change will delete it.
/// </summary>
public static class RaceHarness
{
    public static async Task<RaceReport> RunAsync(RaceWorld world, RaceMode mode, RaceSettings settings, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(world);
        ArgumentNullException.ThrowIfNull(mode);
        ArgumentNullException.ThrowIfNull(settings);
        using var workerCounters = new CounterTotals(world.Worker.GetRequiredService<IMeterFactory>());
        using var reader = mode.CreateReader(world.Redis, world.KeyPrefix, settings.Ttl);
        var builder = new NpgsqlConnectionStringBuilder(world.ConnectionString)
        {
            Pooling = true,
            MaxPoolSize = settings.MaxDatabaseConnections,
            // Commits flushed at once, as on a production server: with synchronous_commit=off (as the test server runs)
            // the change reaches the replication stream up to a few hundred ms after readers already see it.
            Options = "-c synchronous_commit=on",
        };
        await using var database = NpgsqlDataSource.Create(builder.ConnectionString);
        await using var readDatabase = world.ReadConnectionString is { } replica
            ? NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder(replica) { Pooling = true, MaxPoolSize = settings.MaxDatabaseConnections }.ConnectionString)
            : null;

        var counts = new Counts();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var extend = ExtendUntilWrittenAsync(settings, counts, stop);
        var clock = Stopwatch.StartNew();
        var writers = Enumerable.Range(0, settings.Writers).Select(i => WriteAsync(database, world.PublishChangesAsync, settings, new Random(settings.Seed + i), counts, stop.Token));
        var readers = Enumerable.Range(0, settings.Readers).Select(i => ReadAsync(readDatabase ?? database, reader, settings, new Random(settings.Seed + 10_000 + i), counts, stop));
        await Task.WhenAll(writers.Concat(readers)).ConfigureAwait(false);
        await extend.ConfigureAwait(false);
        var elapsed = clock.Elapsed;
        cancellationToken.ThrowIfCancellationRequested();

        await world.WaitForWorkerAsync(settings.CatchUpTimeout, cancellationToken).ConfigureAwait(false);
        var (cached, stale) = await CompareAsync(database, world, cancellationToken).ConfigureAwait(false);
        var populates = reader.Counts;
        return new RaceReport(
            mode.Name, elapsed, Interlocked.Read(ref counts.Writes), Interlocked.Read(ref counts.Reads), Interlocked.Read(ref counts.Loads),
            populates.Stored, populates.Refused, populates.LeaseWaits, populates.LoadsWithoutPopulate,
            settings.Rows, cached, stale, mode.SecondDeleteHits(workerCounters))
        {
            ReplicaDeleteHits = mode.ReplicaDeleteHits(workerCounters),
        };
    }

    /// <summary>Ends the run after its duration, once enough rows were written (or at four times the duration).</summary>
    private static async Task ExtendUntilWrittenAsync(RaceSettings settings, Counts counts, CancellationTokenSource stop)
    {
        var clock = Stopwatch.StartNew();
        try
        {
            await Task.Delay(settings.Duration, stop.Token).ConfigureAwait(false);
            while (Interlocked.Read(ref counts.Writes) < settings.MinRowWrites && clock.Elapsed < settings.Duration * 4)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(50), stop.Token).ConfigureAwait(false);
            }

            await stop.CancelAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Ended by TargetPopulates or the caller.
        }
    }

    private static async Task WriteAsync(
        NpgsqlDataSource database, Func<IReadOnlyList<(int Id, long Version)>, Task>? publish, RaceSettings settings, Random random, Counts counts, CancellationToken stop)
    {
        var ids = new int[settings.RowsPerWrite];
        while (!stop.IsCancellationRequested)
        {
            for (var i = 0; i < ids.Length; i++)
            {
                ids[i] = random.Next(1, settings.Rows + 1);
            }

            await using (var command = database.CreateCommand("UPDATE race_items SET version = version + 1 WHERE id = ANY($1) RETURNING id, version"))
            {
                command.Parameters.Add(new NpgsqlParameter { Value = ids });
                var changed = new List<(int Id, long Version)>(ids.Length);
                await using (var rows = await command.ExecuteReaderAsync(CancellationToken.None).ConfigureAwait(false))
                {
                    while (await rows.ReadAsync(CancellationToken.None).ConfigureAwait(false))
                    {
                        changed.Add((rows.GetInt32(0), rows.GetInt64(1)));
                    }
                }

                Interlocked.Add(ref counts.Writes, changed.Count);
                // Committed (autocommit) before it is published, as Debezium publishes only committed changes.
                if (publish is not null)
                {
                    await publish(changed).ConfigureAwait(false);
                }
            }

            if (settings.WritePause > TimeSpan.Zero)
            {
                try
                {
                    await Task.Delay(settings.WritePause, stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }

    private static async Task ReadAsync(NpgsqlDataSource database, RaceReader reader, RaceSettings settings, Random random, Counts counts, CancellationTokenSource stop)
    {
        var maxPauseTicks = settings.MaxPause.Ticks;
        while (!stop.IsCancellationRequested)
        {
            if (settings.TargetPopulates is { } target && reader.Counts is var done && done.Stored + done.Refused >= target)
            {
                await stop.CancelAsync().ConfigureAwait(false);
                return;
            }

            var id = random.Next(1, settings.Rows + 1);
            var pause = TimeSpan.FromTicks(random.NextInt64(0, maxPauseTicks + 1));
            Interlocked.Increment(ref counts.Reads);
            // Not cancellable: a read that began finishes its populate, late as it may be. That is the race.
            await reader.ReadAsync(
                RaceTable.Key(id),
                async _ =>
                {
                    Interlocked.Increment(ref counts.Loads);
                    var version = await ReadVersionAsync(database, id).ConfigureAwait(false);
                    await Task.Delay(pause, CancellationToken.None).ConfigureAwait(false);
                    return version;
                },
                CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<string?> ReadVersionAsync(NpgsqlDataSource database, int id)
    {
        await using var command = database.CreateCommand("SELECT version FROM race_items WHERE id = $1");
        command.Parameters.Add(new NpgsqlParameter { Value = id });
        return await command.ExecuteScalarAsync().ConfigureAwait(false) is long version ? version.ToString(CultureInfo.InvariantCulture) : null;
    }

    /// <summary>Every row against its cached key: how many keys are cached, and how many hold an older version.</summary>
    private static async Task<(long Cached, long Stale)> CompareAsync(NpgsqlDataSource database, RaceWorld world, CancellationToken cancellationToken)
    {
        var rows = new List<(int Id, long Version)>();
        await using (var command = database.CreateCommand("SELECT id, version FROM race_items ORDER BY id"))
        await using (var result = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await result.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                rows.Add((result.GetInt32(0), result.GetInt64(1)));
            }
        }

        long cached = 0, stale = 0;
        // Single-key GETs, pipelined: an MGET over many keys would cross slots on a Redis Cluster.
        foreach (var chunk in rows.Chunk(5_000))
        {
            var values = await Task.WhenAll(chunk.Select(r => world.Redis.StringGetAsync(world.KeyPrefix + RaceTable.Key(r.Id)))).ConfigureAwait(false);
            for (var i = 0; i < chunk.Length; i++)
            {
                if (values[i].IsNull)
                {
                    continue;
                }

                cached++;
                if ((string?)values[i] != chunk[i].Version.ToString(CultureInfo.InvariantCulture))
                {
                    stale++;
                }
            }
        }

        return (cached, stale);
    }

    private sealed class Counts
    {
        public long Writes;
        public long Reads;
        public long Loads;
    }
}

/// <summary>What one run measured.</summary>
/// <param name="Mode">The mode's name.</param>
/// <param name="Elapsed">How long writers and readers ran.</param>
/// <param name="RowWrites">Row updates committed.</param>
/// <param name="Reads">Cache-aside reads.</param>
/// <param name="Loads">Database reads by readers (misses that loaded).</param>
/// <param name="PopulatesStored">Populates that wrote a value.</param>
/// <param name="PopulatesRefused">Guarded populates refused (the race caught); 0 where nothing guards them.</param>
/// <param name="LeaseWaits">Pauses behind another reader's lease.</param>
/// <param name="LoadsWithoutPopulate">Loads that gave up on the lease and did not populate.</param>
/// <param name="Rows">Rows compared.</param>
/// <param name="CachedKeys">Keys cached at the end.</param>
/// <param name="StaleKeys">Cached keys holding an older version than their row, after the worker caught up.</param>
/// <param name="SecondDeleteHits">Keys a second delete found again, for a mode that has one; null otherwise.</param>
public sealed record RaceReport(
    string Mode,
    TimeSpan Elapsed,
    long RowWrites,
    long Reads,
    long Loads,
    long PopulatesStored,
    long PopulatesRefused,
    long LeaseWaits,
    long LoadsWithoutPopulate,
    long Rows,
    long CachedKeys,
    long StaleKeys,
    long? SecondDeleteHits)
{
    /// <summary>Keys the replica delete found cached again (stored from a replica that had not replayed the change), for a mode that waits for replicas; null otherwise.</summary>
    public long? ReplicaDeleteHits { get; init; }

    /// <summary>Populates attempted after a load: stored or refused.</summary>
    public long Populates => PopulatesStored + PopulatesRefused;

    /// <summary>The header of <see cref="TableRow"/>, as a Markdown table.</summary>
    public const string TableHeader = """
        | mode | run | row updates | reads | populates | refused | lease waits | loads without populate | cached keys | **stale keys** | second-delete hits |
        |---|---|---|---|---|---|---|---|---|---|---|
        """;

    public string TableRow() => string.Create(CultureInfo.InvariantCulture,
        $"| {Mode} | {Elapsed.TotalSeconds:0.0} s | {RowWrites:N0} | {Reads:N0} | {Populates:N0} | {PopulatesRefused:N0} | {LeaseWaits:N0} | {LoadsWithoutPopulate:N0} | {CachedKeys:N0} of {Rows:N0} | **{StaleKeys:N0}** | {(SecondDeleteHits is { } hits ? hits.ToString("N0", CultureInfo.InvariantCulture) : "n/a")} |");

    public override string ToString() => string.Create(CultureInfo.InvariantCulture,
        $"{Mode}: {StaleKeys} stale of {CachedKeys} cached keys ({Rows} rows) after {Elapsed.TotalSeconds:0.0} s; {RowWrites} row updates, {Reads} reads, {Loads} loads, " +
        $"{Populates} populates ({PopulatesStored} stored, {PopulatesRefused} refused), {LeaseWaits} lease waits, {LoadsWithoutPopulate} loads without populate, " +
        $"second-delete hits {(SecondDeleteHits?.ToString(CultureInfo.InvariantCulture) ?? "n/a")}, replica-delete hits {(ReplicaDeleteHits?.ToString(CultureInfo.InvariantCulture) ?? "n/a")}");
}
