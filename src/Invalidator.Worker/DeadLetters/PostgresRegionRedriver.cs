using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Direct mode's redrive: re-applies the region letters of the dead-letter table, in id order per region, and
/// marks each <c>redriven_at</c> only after its region applied it. A letter being redriven when the worker dies
/// is unmarked, so it is redriven again after the restart (deletes are idempotent). Regions are redriven side
/// by side, so a region still down does not hold back the letters of one that is back. Poison rows are passed over.
/// </summary>
internal sealed class PostgresRegionRedriver : BackgroundService
{
    private const int PollLimit = 500;
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);

    private readonly InvalidatorOptions _options;
    private readonly PostgresDeadLetterStore _store;
    private readonly RegionSet _regions;
    private readonly ILogger<PostgresRegionRedriver> _logger;
    private readonly TimeProvider _time;
    private readonly HashSet<long> _skipped = [];

    public PostgresRegionRedriver(IOptions<InvalidatorOptions> options, PostgresDeadLetterStore store, RegionSet regions, ILogger<PostgresRegionRedriver> logger, TimeProvider time)
    {
        _options = options.Value;
        _store = store;
        _regions = regions;
        _logger = logger;
        _time = time;
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _options.DeadLetter.Redrive ? Task.Run(() => RunAsync(stoppingToken), CancellationToken.None) : Task.CompletedTask;

    private async Task RunAsync(CancellationToken stoppingToken)
    {
        var retry = _options.DeadLetter.RedriveRetryInterval;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                int redriven;
                try
                {
                    var pending = (await _store.ReadPendingAsync(PollLimit, stoppingToken).ConfigureAwait(false))
                        .Where(l => !_skipped.Contains(l.Id))
                        .ToList();
                    var byRegion = pending.GroupBy(l => l.Region, StringComparer.OrdinalIgnoreCase).ToList();
                    var counts = await Task.WhenAll(byRegion.Select(g => RedriveAsync(g.Key, g.ToList(), stoppingToken))).ConfigureAwait(false);
                    redriven = counts.Sum();
                }
                catch (Exception ex) when (ex is NpgsqlException or TimeoutException && !stoppingToken.IsCancellationRequested)
                {
                    // The table is unreachable: the letters stay unmarked and are read again. Before the
                    // source's start-up created the table, it is simply absent: nothing to say.
                    if (ex is not PostgresException { SqlState: PostgresErrorCodes.UndefinedTable })
                    {
                        Log.TableRedriveStalled(_logger, _store.Table, Log.Describe(ex), retry);
                    }

                    await Task.Delay(retry, _time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                if (redriven == 0)
                {
                    await Task.Delay(IdlePoll, _time, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The letter being redriven stays unmarked; it is redriven again after a restart.
        }
    }

    /// <summary>One region's letters in order; returns how many were redriven.</summary>
    private async Task<int> RedriveAsync(string regionName, List<(long Id, string Region, RegionDeadLetter? Letter)> letters, CancellationToken stoppingToken)
    {
        var region = _regions.Find(regionName);
        var count = 0;
        foreach (var (id, _, letter) in letters)
        {
            if (letter is null || region is null)
            {
                // Left unmarked (a config fix may bring the region back), but not retried by this process.
                Log.TableRedriveSkipped(_logger, id, _store.Table, letter is null ? "unreadable payload" : $"region '{regionName}' is not configured");
                lock (_skipped)
                {
                    _skipped.Add(id);
                }

                continue;
            }

            while (true)
            {
                try
                {
                    var result = await region.ApplyAsync(letter.Keys, letter.Tags, stoppingToken).ConfigureAwait(false);
                    Log.RegionRedrivenFromTable(_logger, region.Name, id, _store.Table, letter.Keys.Count, letter.Tags.Count, result.KeysFound);
                    break;
                }
                catch (RegionApplyException ex)
                {
                    var delay = _options.DeadLetter.RedriveRetryInterval;
                    Log.TableRedriveWaiting(_logger, region.Name, Log.Describe(ex.InnerException), id, _store.Table, delay);
                    await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
                }
            }

            await _store.MarkRedrivenAsync(id, stoppingToken).ConfigureAwait(false);
            count++;
        }

        return count;
    }
}
