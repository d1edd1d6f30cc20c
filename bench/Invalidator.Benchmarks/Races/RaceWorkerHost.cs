using System.Diagnostics;
using System.Diagnostics.Metrics;
using Invalidator.RaceHarness;
using Invalidator.Worker.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Invalidator.Benchmarks.Races;

/// <summary>
/// One race run's database and worker: a database of its own on the primary holding <see cref="RaceTable.Schema"/>, and
/// the real worker host in direct mode streaming it (publication and slot named after the run) into one region whose
/// keys carry the run's prefix. The worker's counters are summed from its start (<see cref="Counters"/>).
/// </summary>
internal sealed class RaceWorkerHost : IAsyncDisposable
{
    private readonly string _directory;
    private readonly IHost _host;

    private RaceWorkerHost(string name, string connectionString, string directory, IHost host)
    {
        Name = name;
        ConnectionString = connectionString;
        _directory = directory;
        _host = host;
        Counters = new CounterTotals(host.Services.GetRequiredService<IMeterFactory>());
    }

    /// <summary>The database, publication and slot name; the keys' prefix is <c>{Name}:</c>.</summary>
    public string Name { get; }

    public string KeyPrefix => $"{Name}:";

    public string ConnectionString { get; }

    public IServiceProvider Services => _host.Services;

    public CounterTotals Counters { get; }

    /// <summary>Returns once the worker has applied (or dead-lettered) every change committed before the call.</summary>
    public Func<TimeSpan, CancellationToken, Task> WaitForWorkerAsync => RaceWorld.DirectSourceCatchUp(ConnectionString, Name);

    /// <summary>Creates the database (with <paramref name="rows"/> rows), starts the worker and waits until it streams from its slot.</summary>
    /// <param name="redis">The region's <c>Redis</c> configuration string.</param>
    /// <param name="settings">Worker settings over the run's own (the region's options, consistency settings), then <paramref name="overrides"/>.</param>
    /// <param name="quietRegions">Logs nothing of the region's failures (the failover race makes them on purpose).</param>
    public static async Task<RaceWorkerHost> StartAsync(
        PostgresServerProcess postgres, string name, int rows, RaceMode mode, string redis,
        IReadOnlyDictionary<string, string?> settings, IReadOnlyDictionary<string, string?> overrides, bool quietRegions = false)
    {
        await postgres.ExecuteAsync("postgres", $"CREATE DATABASE {name}").ConfigureAwait(false);
        var connectionString = postgres.ConnectionString(name);
        await postgres.ExecuteAsync(name, RaceTable.Schema(name, rows)).ConfigureAwait(false);
        var directory = Directory.CreateTempSubdirectory("invalidator-bench-race-").FullName;
        await File.WriteAllTextAsync(Path.Combine(directory, "rules.yaml"), RaceTable.Rules(mode)).ConfigureAwait(false);
        var workerSettings = new Dictionary<string, string?>
        {
            ["Invalidator:Source"] = "Postgres",
            ["Invalidator:Postgres:ConnectionString"] = connectionString,
            ["Invalidator:Postgres:Publication"] = name,
            ["Invalidator:Postgres:Slot"] = name,
            ["Invalidator:Rules:Path"] = "rules.yaml",
            ["Invalidator:Regions:bench:Redis"] = redis,
            ["Invalidator:Regions:bench:KeyPrefix"] = $"{name}:",
            ["Invalidator:Http:Urls"] = "http://127.0.0.1:0",
            ["Invalidator:Http:StatusUrls"] = "",
        };
        var builder = Host.CreateEmptyApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = directory });
        builder.Configuration.AddInMemoryCollection(workerSettings).AddInMemoryCollection(mode.WorkerSettings).AddInMemoryCollection(settings).AddInMemoryCollection(overrides);
        builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Error);
        if (quietRegions)
        {
            builder.Logging.AddFilter("Invalidator.Worker.Regions", LogLevel.None).AddFilter("Invalidator.Worker.DeadLetters", LogLevel.None);
        }

        builder.Services.AddInvalidator();
        var host = builder.Build();
        var worker = new RaceWorkerHost(name, connectionString, directory, host);
        try
        {
            await host.StartAsync().ConfigureAwait(false);
            await WaitForSlotAsync(connectionString, name).ConfigureAwait(false);
            return worker;
        }
        catch
        {
            await worker.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await _host.StopAsync(timeout.Token).ConfigureAwait(false);
        }
        finally
        {
            Counters.Dispose();
            _host.Dispose();
            Directory.Delete(_directory, recursive: true);
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
