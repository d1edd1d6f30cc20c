using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Invalidator.Worker.Sources.Postgres;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Invalidator.Worker.Probe;

/// <summary>
/// The freshness probe inside the worker (<c>Invalidator:Probe:Enabled</c>): checks the canary table at start (a table
/// that is missing or wrong stops the worker with the DDL or the fix), then starts a round every
/// <c>Invalidator:Probe:Interval</c>. Rounds overlap, so a region that is slow or down does not delay the others' figures.
/// </summary>
internal sealed class ProbeService(
    IOptions<InvalidatorOptions> options,
    RegionSet regions,
    WorkerStatus status,
    ProbeWorkerName workerName,
    WorkerEvents events,
    InvalidatorMetrics metrics,
    WorkerExit exit,
    ILoggerFactory loggers,
    TimeProvider time) : BackgroundService
{
    private readonly ILogger _logger = loggers.CreateLogger<ProbeService>();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var settings = options.Value;
        if (!settings.Probe.Enabled)
        {
            return;
        }

        var table = new CanaryTable(DataSource(settings), settings.Probe.Table);
        await using var disposeTable = table.ConfigureAwait(false);
        var targets = CanaryTargets.For(regions, settings.Regions, loggers);
        try
        {
            var probe = new CanaryProbe(settings.Probe, settings.Source, targets, table, workerName.Value, events, _logger, time);
            if (!await StartAsync(probe, table, settings, stoppingToken).ConfigureAwait(false))
            {
                return;
            }

            if (settings.Source == ChangeSourceKind.Postgres)
            {
                await StreamingAsync(stoppingToken).ConfigureAwait(false);
            }

            metrics.ObserveProbe(targets.Select(t => t.Region));
            Log.ProbeStarted(_logger, probe.Worker, targets.Count, settings.Probe.Interval, table.Table, settings.Probe.Objective, settings.Probe.Deadline);
            await RunAsync(probe, settings.Probe.Interval, stoppingToken).ConfigureAwait(false);
        }
        finally
        {
            foreach (var target in targets)
            {
                target.Dispose();
            }
        }
    }

    /// <summary>
    /// Direct mode: waits until the source streams. A change committed before the worker's slot exists is never streamed,
    /// so a canary written then would be lost although nothing is wrong. (Debezium captures changes whether or not this
    /// worker consumes yet, so Kafka mode does not wait.)
    /// </summary>
    private async Task StreamingAsync(CancellationToken stoppingToken)
    {
        while (!status.ConnectedSources().Any(s => s.DisconnectedReason is null))
        {
            await Task.Delay(StreamingPoll, time, stoppingToken).ConfigureAwait(false);
        }
    }

    private static readonly TimeSpan StreamingPoll = TimeSpan.FromMilliseconds(100);

    /// <summary>The canary table's database: Kafka mode names it; direct mode uses the source's.</summary>
    internal static NpgsqlDataSource DataSource(InvalidatorOptions settings)
    {
        var builder = new NpgsqlDataSourceBuilder(settings.Source == ChangeSourceKind.Kafka
            ? settings.Probe.ConnectionString
            : PostgresCredentials.ConnectionString(settings.Postgres));
        builder.ConnectionStringBuilder.ApplicationName ??= "invalidator-probe";
        return builder.Build();
    }

    /// <summary>The table's check and the worker's last seq; false (and the worker stopping) when the table is not ready.</summary>
    private async Task<bool> StartAsync(CanaryProbe probe, CanaryTable table, InvalidatorOptions settings, CancellationToken stoppingToken)
    {
        IReadOnlyList<string> problems;
        try
        {
            problems = await table.CheckAsync(settings.Source == ChangeSourceKind.Postgres ? settings.Postgres.Publication : null, stoppingToken).ConfigureAwait(false);
            if (problems.Count == 0)
            {
                await probe.StartAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException && !stoppingToken.IsCancellationRequested)
        {
            problems = [$"cannot reach the canary table {table.Table} (" +
                (settings.Source == ChangeSourceKind.Kafka ? "Invalidator:Probe:ConnectionString" : "Invalidator:Postgres:ConnectionString") + $"): {ex.Message}"];
        }

        foreach (var problem in problems)
        {
            Log.ProbeNotReady(_logger, problem);
        }

        if (problems.Count > 0)
        {
            exit.Fail(string.Join(" ", problems), ExitCodes.ConfigurationError);
            return false;
        }

        return true;
    }

    private async Task RunAsync(CanaryProbe probe, TimeSpan interval, CancellationToken stoppingToken)
    {
        var rounds = new List<Task>();
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                rounds.RemoveAll(r => r.IsCompleted);
                rounds.Add(RoundAsync(probe, stoppingToken));
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: the rounds in flight end with it.
        }

        await Task.WhenAll(rounds).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task RoundAsync(CanaryProbe probe, CancellationToken stoppingToken)
    {
        try
        {
            await probe.RunRoundAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
        {
            Log.ProbeRoundFailed(_logger, ex);
        }
    }
}
