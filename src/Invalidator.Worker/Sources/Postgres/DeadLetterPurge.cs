using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// <c>Invalidator:DeadLetter:Retention</c> in direct mode: dead letters hold row data (personal data too), so rows that
/// were redriven, or are older than the retention, are deleted. Periodically (a sixtieth of the retention, between a
/// second and an hour; the first round soon after start, so a worker that restarts often still purges), in deletes of
/// at most <see cref="RowsPerDelete"/> rows so a large backlog never holds a long lock or transaction.
/// In Kafka mode the topic's <c>retention.ms</c> does the same (docs/configuration.md).
/// </summary>
internal sealed class DeadLetterPurge(
    PostgresDeadLetterTable store, IOptions<InvalidatorOptions> options, ILogger<DeadLetterPurge> logger, TimeProvider time) : BackgroundService
{
    internal const int RowsPerDelete = 1000;

    private static readonly TimeSpan FirstRoundAtMost = TimeSpan.FromMinutes(5);

    private readonly TimeSpan _retention = options.Value.DeadLetter.Retention;

    /// <summary>How often the purge runs for a retention.</summary>
    internal static TimeSpan IntervalFor(TimeSpan retention) =>
        TimeSpan.FromTicks(Math.Clamp(retention.Ticks / 60, TimeSpan.TicksPerSecond, TimeSpan.TicksPerHour));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var interval = IntervalFor(_retention);
        try
        {
            await Task.Delay(interval < FirstRoundAtMost ? interval : FirstRoundAtMost, time, stoppingToken).ConfigureAwait(false);
            while (true)
            {
                await PurgeAsync(interval, stoppingToken).ConfigureAwait(false);
                await Task.Delay(interval, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: the next start purges what is left.
        }
    }

    private async Task PurgeAsync(TimeSpan interval, CancellationToken stoppingToken)
    {
        var purged = 0;
        try
        {
            int deleted;
            do
            {
                deleted = await store.PurgeAsync(_retention, RowsPerDelete, stoppingToken).ConfigureAwait(false);
                purged += deleted;
            }
            while (deleted == RowsPerDelete);
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
        {
            Log.DeadLetterPurgeFailed(logger, store.Table, Log.Describe(ex), interval);
        }

        if (purged > 0)
        {
            Log.DeadLettersPurged(logger, purged, store.Table, _retention);
        }
    }
}
