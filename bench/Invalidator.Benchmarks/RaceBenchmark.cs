using System.Diagnostics;
using Invalidator.RaceHarness;
using Invalidator.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;
using StackExchange.Redis;

namespace Invalidator.Benchmarks;

/// <summary>
/// The set-after-delete race at scale (tools/Invalidator.RaceHarness): a PostgreSQL and a redis-server process of its
/// own, the real worker host in direct mode, writers and readers; every mode runs until the readers attempted the
/// target number of populates, then the stale keys are counted. Prints the Markdown table of docs/consistency.md.
/// </summary>
internal static class RaceBenchmark
{
    private const string Name = "race";

    /// <summary>The modes measured, in docs/consistency.md's order; a new mode is one more entry.</summary>
    private static readonly RaceMode[] Modes = [RaceMode.PlainDelete, RaceMode.SecondDelete, RaceMode.Leases];

    public static async Task RunAsync(Scale scale, ResultTable table, IReadOnlyDictionary<string, string?> overrides)
    {
        Console.WriteLine("race: starting postgres and redis-server processes ...");
        await using var postgres = await PostgresServerProcess.StartAsync().ConfigureAwait(false);
        await using var redis = await RedisServerProcess.StartAsync().ConfigureAwait(false);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString).ConfigureAwait(false);
        var settings = Settings(scale);
        Console.WriteLine($"race: {settings.Rows:N0} rows, {settings.Writers} writers x {settings.RowsPerWrite} rows per UPDATE, {settings.Readers} readers " +
            $"pausing 0-{settings.MaxPause.TotalMilliseconds:0} ms before each populate, until {settings.TargetPopulates:N0} populates per mode");

        var reports = new List<RaceReport>();
        for (var i = 0; i < Modes.Length; i++)
        {
            var report = await RunModeAsync(postgres, redis, connection, Modes[i], $"race{i}", settings, overrides).ConfigureAwait(false);
            reports.Add(report);
            Console.WriteLine($"race: {report}");
            table.Add(Name, $"{report.Mode}: {report.Populates:N0} racing populates", report.Populates / report.Elapsed.TotalSeconds, "populates/s",
                $"{report.StaleKeys:N0} stale of {report.CachedKeys:N0} cached keys; {report.PopulatesRefused:N0} refused; " +
                $"{(report.SecondDeleteHits is { } hits ? $"{hits:N0} second-delete hits; " : "")}{report.RowWrites:N0} row updates");
        }

        Console.WriteLine();
        Console.WriteLine(RaceReport.TableHeader);
        foreach (var report in reports)
        {
            Console.WriteLine(report.TableRow());
        }

        Console.WriteLine();
    }

    private static RaceSettings Settings(Scale scale) => scale.IsQuick
        ? new RaceSettings
        {
            Rows = 2_000, Writers = 2, RowsPerWrite = 10, WritePause = TimeSpan.FromMilliseconds(2), Readers = 64,
            MaxPause = TimeSpan.FromMilliseconds(100), Duration = TimeSpan.FromSeconds(30), TargetPopulates = 20_000,
        }
        : new RaceSettings
        {
            Rows = 20_000, Writers = 4, RowsPerWrite = 20, WritePause = TimeSpan.FromMilliseconds(2), Readers = 384,
            MaxPause = TimeSpan.FromMilliseconds(100), Duration = TimeSpan.FromMinutes(20), TargetPopulates = 1_000_000,
            CatchUpTimeout = TimeSpan.FromMinutes(10), MaxDatabaseConnections = 48,
        };

    private static async Task<RaceReport> RunModeAsync(
        PostgresServerProcess postgres, RedisServerProcess redis, ConnectionMultiplexer connection, RaceMode mode, string name, RaceSettings settings,
        IReadOnlyDictionary<string, string?> overrides)
    {
        await postgres.ExecuteAsync("postgres", $"CREATE DATABASE {name}").ConfigureAwait(false);
        var connectionString = postgres.ConnectionString(name);
        await postgres.ExecuteAsync(name, RaceTable.Schema(name, settings.Rows)).ConfigureAwait(false);
        var directory = Directory.CreateTempSubdirectory("invalidator-bench-race-").FullName;
        try
        {
            await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), RaceTable.Rules(mode)).ConfigureAwait(false);
            var prefix = $"{name}:";
            var workerSettings = new Dictionary<string, string?>
            {
                ["Invalidator:Source"] = "Postgres",
                ["Invalidator:Postgres:ConnectionString"] = connectionString,
                ["Invalidator:Postgres:Publication"] = name,
                ["Invalidator:Postgres:Slot"] = name,
                ["Invalidator:Rules:Path"] = "rules.yaml",
                ["Invalidator:Regions:bench:Redis"] = redis.ConnectionString,
                ["Invalidator:Regions:bench:KeyPrefix"] = prefix,
                ["Invalidator:Http:Urls"] = "http://127.0.0.1:0",
                ["Invalidator:Http:StatusUrls"] = "",
            };
            var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = directory });
            builder.Configuration.AddInMemoryCollection(workerSettings).AddInMemoryCollection(mode.WorkerSettings).AddInMemoryCollection(overrides);
            builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
            builder.Services.AddInvalidator();
            using var host = builder.Build();
            await host.StartAsync().ConfigureAwait(false);
            try
            {
                await WaitForSlotAsync(connectionString, name).ConfigureAwait(false);
                return await RaceHarness.RaceHarness.RunAsync(
                    new RaceWorld
                    {
                        ConnectionString = connectionString,
                        Redis = connection.GetDatabase(),
                        KeyPrefix = prefix,
                        Worker = host.Services,
                        WaitForWorkerAsync = RaceWorld.DirectSourceCatchUp(connectionString, name),
                    },
                    mode,
                    settings).ConfigureAwait(false);
            }
            finally
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await host.StopAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static async Task WaitForSlotAsync(string connectionString, string slot)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync().ConfigureAwait(false);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            await using var command = new NpgsqlCommand("SELECT coalesce((SELECT active FROM pg_replication_slots WHERE slot_name = $1), false)", connection)
            {
                Parameters = { new() { Value = slot } },
            };
            if ((bool)(await command.ExecuteScalarAsync().ConfigureAwait(false))!)
            {
                return;
            }

            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new TimeoutException($"the worker did not start streaming from slot {slot} within 60 s");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }
    }
}
