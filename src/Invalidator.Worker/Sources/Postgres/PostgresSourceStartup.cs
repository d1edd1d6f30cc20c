using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Npgsql;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// What the direct source checks before it streams: the database's set-up (<see cref="PostgresSourceChecks"/>,
/// which <c>rules check --database</c> runs too) and the dead-letter table. A slot still held by a previous worker
/// that is disconnecting is waited for; any other error stops the start with the checks' messages and fixes.
/// </summary>
internal sealed class PostgresSourceStartup(
    PostgresOptions postgres,
    RuleSet rules,
    PostgresDeadLetterTable deadLetters,
    WorkerEvents events,
    ILogger logger,
    TimeProvider time)
{
    private static readonly TimeSpan SlotBusyGrace = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan SlotBusyPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>Runs the checks; throws <see cref="PostgresSourceNotReadyException"/> when the source cannot start.</summary>
    public async Task<PostgresCheckReport> CheckAsync(CancellationToken stoppingToken)
    {
        var started = time.GetTimestamp();
        var waitLogged = false;
        while (true)
        {
            var report = await PostgresSourceChecks.RunAsync(
                PostgresCredentials.ConnectionString(postgres), postgres.Publication, postgres.Slot, rules, stoppingToken).ConfigureAwait(false);
            var onlyBusy = report.SlotActivePid is not null && report.Findings.Count(f => f.Severity == CheckSeverity.Error) == 1;
            if (onlyBusy && time.GetElapsedTime(started) < SlotBusyGrace)
            {
                if (!waitLogged)
                {
                    Log.SlotBusyWaiting(logger, postgres.Slot, report.SlotActivePid!.Value, SlotBusyGrace);
                    waitLogged = true;
                }

                events.Publish(new ConsumeLoopTicked(PostgresChangeSource.SourceName));
                await Task.Delay(SlotBusyPoll, time, stoppingToken).ConfigureAwait(false);
                continue;
            }

            foreach (var finding in report.Findings)
            {
                switch (finding.Severity)
                {
                    case CheckSeverity.Error: Log.PostgresCheckFailed(logger, finding.Message); break;
                    case CheckSeverity.Warning: Log.PostgresCheckWarning(logger, finding.Message); break;
                    default: Log.PostgresCheckInfo(logger, finding.Message); break;
                }
            }

            if (report.HasErrors)
            {
                throw new PostgresSourceNotReadyException(string.Join(" ", report.Findings.Where(f => f.Severity == CheckSeverity.Error).Select(f => f.Message)));
            }

            await EnsureDeadLetterTableAsync(stoppingToken).ConfigureAwait(false);
            return report;
        }
    }

    private async Task EnsureDeadLetterTableAsync(CancellationToken stoppingToken)
    {
        try
        {
            await deadLetters.EnsureTableAsync(stoppingToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is NpgsqlException or InvalidOperationException or TimeoutException && !stoppingToken.IsCancellationRequested)
        {
            throw new PostgresSourceNotReadyException(
                $"The dead-letter table {deadLetters.Table} (Invalidator:DeadLetter:Table, in the database of Invalidator:DeadLetter:ConnectionString " +
                $"or else Invalidator:Postgres:ConnectionString) cannot be created or used: {ex.Message}. Create it (and its schema) or grant the worker's user CREATE on the schema.");
        }
    }
}

/// <summary>The start-up checks found errors; the message lists them with their fixes.</summary>
internal sealed class PostgresSourceNotReadyException(string message) : Exception(message);
