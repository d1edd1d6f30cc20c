using System.Diagnostics;
using System.Globalization;
using Invalidator.RaceHarness;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.Benchmarks.Races;

/// <summary>
/// The two races tools/Invalidator.RaceHarness runs (writers, cache-aside readers with a pause between their load and
/// their populate, the real worker in direct mode, every cached key compared with its row at the end):
/// the set-after-delete race (readers load from the primary), and the lagging read replica (readers load from a
/// streaming standby that applies each commit <see cref="Lag"/> late, the worker watching it as
/// <c>Invalidator:Consistency:ReadReplicas:standby</c>).
/// </summary>
internal static class HarnessRaces
{
    public const string SetAfterDelete = "set-after-delete";
    public const string ReplicaLag = "replica lag";

    /// <summary>The standby's replay lag: well past the 800 ms second delete, so that one alone is shown to fall short.</summary>
    private static readonly TimeSpan Lag = TimeSpan.FromSeconds(2);

    private static readonly Dictionary<string, string?> NoSettings = [];

    /// <summary>The set-after-delete race's defences, the control first.</summary>
    private static readonly (string Defence, RaceMode Mode)[] SetAfterDeleteModes =
    [
        ("none (plain delete)", RaceMode.PlainDelete),
        ("leases", RaceMode.Leases),
        ("second delete (800 ms)", RaceMode.SecondDelete),
        ("leases + second delete (800 ms)", RaceMode.LeasesAndSecondDelete),
    ];

    /// <summary>The lagging replica's defences: the controls (none; leases alone; a second delete shorter than the lag), then waitForReplicas.</summary>
    private static readonly (string Defence, RaceMode Mode)[] ReplicaModes =
    [
        ("none (plain delete)", RaceMode.PlainDelete),
        ("leases alone", RaceMode.Leases),
        ("second delete alone (800 ms)", RaceMode.SecondDelete),
        ("waitForReplicas + leases", RaceMode.WaitForReplicas(leases: true)),
        ("waitForReplicas + second delete (800 ms)", RaceMode.WaitForReplicas(leases: false, TimeSpan.FromMilliseconds(800))),
    ];

    public static async Task RunSetAfterDeleteAsync(Scale scale, List<RaceRow> rows, IReadOnlyDictionary<string, string?> overrides)
    {
        Console.WriteLine("race: set-after-delete: starting postgres and redis-server processes ...");
        await using var postgres = await PostgresServerProcess.StartAsync().ConfigureAwait(false);
        await using var redis = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString).ConfigureAwait(false);
        var settings = scale.IsQuick
            ? new RaceSettings
            {
                Rows = 2_000, Writers = 2, RowsPerWrite = 10, WritePause = TimeSpan.FromMilliseconds(2), Readers = 64,
                MaxPause = TimeSpan.FromMilliseconds(100), Duration = TimeSpan.FromSeconds(4),
            }
            : new RaceSettings
            {
                Rows = 20_000, Writers = 4, RowsPerWrite = 20, WritePause = TimeSpan.FromMilliseconds(2), Readers = 384,
                MaxPause = TimeSpan.FromMilliseconds(100), Duration = TimeSpan.FromSeconds(8), MaxDatabaseConnections = 48,
            };
        Console.WriteLine($"race: set-after-delete: {Describe(settings)}");
        for (var i = 0; i < SetAfterDeleteModes.Length; i++)
        {
            var (defence, mode) = SetAfterDeleteModes[i];
            await using var worker = await RaceWorkerHost.StartAsync(postgres, $"race{i}", settings.Rows, mode, redis.ConnectionString, NoSettings, overrides)
                .ConfigureAwait(false);
            var catchUp = new Stopwatch();
            var report = await RaceHarness.RaceHarness.RunAsync(World(worker, connection, readFrom: null, catchUp), mode, settings).ConfigureAwait(false);
            Add(rows, SetAfterDelete, defence, report, worker.Counters, catchUp.Elapsed);
        }
    }

    public static async Task RunReplicaLagAsync(Scale scale, List<RaceRow> rows, IReadOnlyDictionary<string, string?> overrides)
    {
        Console.WriteLine($"race: replica lag: starting a postgres primary, its streaming standby (applying {Lag.TotalMilliseconds:0} ms late) and redis-server ...");
        await using var primary = await PostgresServerProcess.StartAsync().ConfigureAwait(false);
        await using var standby = await primary.StartStandbyAsync(Lag).ConfigureAwait(false);
        await using var redis = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString).ConfigureAwait(false);
        var settings = scale.IsQuick
            ? new RaceSettings
            {
                Rows = 1_000, Writers = 2, RowsPerWrite = 5, WritePause = TimeSpan.FromMilliseconds(5), Readers = 32,
                MaxPause = TimeSpan.FromMilliseconds(100), Duration = TimeSpan.FromSeconds(4),
            }
            : new RaceSettings
            {
                Rows = 5_000, Writers = 2, RowsPerWrite = 10, WritePause = TimeSpan.FromMilliseconds(5), Readers = 96,
                MaxPause = TimeSpan.FromMilliseconds(100), Duration = TimeSpan.FromSeconds(6),
            };
        Console.WriteLine($"race: replica lag: {Describe(settings)}; readers load from the standby");
        for (var i = 0; i < ReplicaModes.Length; i++)
        {
            var (defence, mode) = ReplicaModes[i];
            var name = $"replica{i}";
            // The worker asks the standby only for its replay position, the same in every database.
            var consistency = new Dictionary<string, string?> { ["Invalidator:Consistency:ReadReplicas:standby"] = standby.ConnectionString("postgres") };
            await using var worker = await RaceWorkerHost.StartAsync(primary, name, settings.Rows, mode, redis.ConnectionString, consistency, overrides)
                .ConfigureAwait(false);
            await WaitForStandbyAsync(standby.ConnectionString(name), settings.Rows).ConfigureAwait(false);
            var catchUp = new Stopwatch();
            var report = await RaceHarness.RaceHarness.RunAsync(World(worker, connection, readFrom: standby.ConnectionString(name), catchUp), mode, settings)
                .ConfigureAwait(false);
            Add(rows, ReplicaLag, defence, report, worker.Counters, catchUp.Elapsed);
        }
    }

    /// <summary>The run's world; the worker's catch-up after the run (its acknowledgements' delay: a replica wait holds them) is timed into <paramref name="catchUp"/>.</summary>
    private static RaceWorld World(RaceWorkerHost worker, ConnectionMultiplexer connection, string? readFrom, Stopwatch catchUp) => new()
    {
        ConnectionString = worker.ConnectionString,
        ReadConnectionString = readFrom,
        Redis = connection.GetDatabase(),
        KeyPrefix = worker.KeyPrefix,
        Worker = worker.Services,
        WaitForWorkerAsync = async (timeout, cancellationToken) =>
        {
            catchUp.Restart();
            await worker.WaitForWorkerAsync(timeout, cancellationToken).ConfigureAwait(false);
            catchUp.Stop();
        },
    };

    private static void Add(List<RaceRow> rows, string race, string defence, RaceReport report, CounterTotals counters, TimeSpan catchUp)
    {
        var extra = new List<string>();
        if (counters["invalidator_replica_deletes"] is var replicaDeletes and > 0)
        {
            extra.Add(string.Create(CultureInfo.InvariantCulture, $"{replicaDeletes:N0} replica deletes ({counters["invalidator_replica_delete_hits"]:N0} found the key)"));
        }

        if (counters["invalidator_second_deletes"] is var secondDeletes and > 0)
        {
            extra.Add(string.Create(CultureInfo.InvariantCulture, $"{secondDeletes:N0} second deletes ({counters["invalidator_second_delete_hits"]:N0} found the key)"));
        }

        var waits = new List<string>();
        if (report.LeaseWaits > 0)
        {
            waits.Add(string.Create(CultureInfo.InvariantCulture, $"{report.LeaseWaits:N0} lease waits"));
        }

        if (counters["invalidator_replica_waits_expired"] is var expired and > 0)
        {
            waits.Add(string.Create(CultureInfo.InvariantCulture, $"{expired:N0} replica waits expired"));
        }

        // How long the last changes took to be acknowledged: a replica wait holds the acknowledgement until the replay.
        waits.Add(string.Create(CultureInfo.InvariantCulture, $"catch-up {catchUp.TotalSeconds:0.0} s"));
        var row = new RaceRow(race, defence, report.Elapsed, report.RowWrites, report.Populates, report.StaleKeys, report.CachedKeys, report.Rows,
            extra.Count == 0 ? "none" : string.Join("; ", extra), string.Join("; ", waits), report.PopulatesRefused);
        rows.Add(row);
        Console.WriteLine($"race: {row}");
    }

    private static string Describe(RaceSettings settings) => string.Create(CultureInfo.InvariantCulture,
        $"{settings.Rows:N0} rows, {settings.Writers} writers x {settings.RowsPerWrite} rows per UPDATE, {settings.Readers} readers pausing " +
        $"0-{settings.MaxPause.TotalMilliseconds:0} ms before each populate, {settings.Duration.TotalSeconds:0} s per defence");

    /// <summary>Waits until the standby replayed the run's database with its rows (the apply delay holds them back too).</summary>
    private static async Task WaitForStandbyAsync(string connectionString, int rows)
    {
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (true)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(deadline.Token).ConfigureAwait(false);
                await using var command = new NpgsqlCommand("SELECT count(*) FROM race_items", connection);
                if ((long)(await command.ExecuteScalarAsync(deadline.Token).ConfigureAwait(false))! == rows)
                {
                    return;
                }
            }
            catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.InvalidCatalogName or PostgresErrorCodes.UndefinedTable)
            {
                // Not replayed yet.
            }

            await Task.Delay(50, deadline.Token).ConfigureAwait(false);
        }
    }
}
