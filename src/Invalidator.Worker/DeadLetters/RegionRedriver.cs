using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.DeadLetters;

/// <summary>
/// Re-applies each region's dead-lettered invalidations once the region is healthy again, whatever the store
/// (topic or table). Every configured region has its own loop over its own letters, in order, so a region that is
/// still down never delays the redrive of another. A letter is marked redriven only after its region applied it:
/// a crash re-applies it after the restart (deletes are idempotent). While a region is down its letter is retried
/// every <c>RedriveRetryInterval</c>; attempts go through the region's circuit breaker, so an open circuit costs
/// nothing. A letter that keeps failing on another error than the region being unreachable (a server refusing the
/// whole command, a bug) is quarantined after <c>MaxRedriveTries</c> such tries: written as a poison letter and
/// marked, so it never holds up the letters behind it. Poison records and letters are left to <c>dlq replay</c>.
/// </summary>
internal sealed class RegionRedriver : BackgroundService
{
    private const int ReadLimit = 100;
    private static readonly TimeSpan IdlePoll = TimeSpan.FromMilliseconds(250);

    private readonly InvalidatorOptions _options;
    private readonly IRedriveReader _letters;
    private readonly RegionSet _regions;
    private readonly ILogger<RegionRedriver> _logger;
    private readonly TimeProvider _time;
    private readonly RateLimitedLog _stalledLog;
    private readonly RegionPoisonWriter _refusals;
    private readonly WorkerEvents _events;

    public RegionRedriver(
        IOptions<InvalidatorOptions> options, IRedriveReader letters, IDeadLetterWriter writer, RegionSet regions, ILogger<RegionRedriver> logger, TimeProvider time,
        WorkerEvents events, KeyRedaction? redaction = null, LiveRules? rules = null)
    {
        _options = options.Value;
        _letters = letters;
        _regions = regions;
        _logger = logger;
        _time = time;
        _stalledLog = new RateLimitedLog(TimeSpan.FromSeconds(10), time);
        _refusals = new RegionPoisonWriter(writer, events, logger, time, redaction, rules);
        _events = events;
    }

    // A shadow worker deletes nothing, so it redrives nothing either (the letters on a shared topic are live workers').
    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        _options.DeadLetter.Redrive && _options.Mode == WorkerMode.Live
            ? Task.WhenAll(_regions.Regions.Select(region => Task.Run(() => RunAsync(region, stoppingToken), CancellationToken.None)))
            : Task.CompletedTask;

    private async Task RunAsync(RegionInvalidator region, CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                var letters = await ReadAsync(region, stoppingToken).ConfigureAwait(false);
                if (letters.Count == 0)
                {
                    // Nothing waits: the region's redrive backlog is empty (its age 0).
                    _events.Publish(new RedriveBacklogMeasured(region.Name, null));
                    await Task.Delay(IdlePoll, _time, stoppingToken).ConfigureAwait(false);
                    continue;
                }

                foreach (var letter in letters)
                {
                    if (letter.Letter is null)
                    {
                        // Left as it is (it may be read by a person), but not retried by this process.
                        Log.RedriveSkipped(_logger, region.Name, letter.Where, "the stored bytes are not a region letter");
                        continue;
                    }

                    // Letters are read oldest first, so this one's failure time is the backlog's age (while it waits, the age grows).
                    _events.Publish(new RedriveBacklogMeasured(region.Name, letter.Letter.FailedAt, letter.Where));
                    var (result, quarantine) = await RedriveAsync(region, letter, letter.Letter, stoppingToken).ConfigureAwait(false);
                    if (quarantine is { } failed)
                    {
                        await QuarantineAsync(region, letter, letter.Letter, failed.Tries, failed.Error, stoppingToken).ConfigureAwait(false);
                    }
                    else if (result.RefusedNames.Count > 0)
                    {
                        // Names the server refused for good become poison letters before the letter is marked: none is lost.
                        await WriteRefusedAsync(region, new RegionRefusals(region.Name, result.RefusedNames), letter.Letter.Sources, stoppingToken).ConfigureAwait(false);
                    }

                    await MarkAsync(region, letter, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The letter being redriven stays unmarked; it is redriven again after a restart.
        }
    }

    private async Task<IReadOnlyList<PendingRegionLetter>> ReadAsync(RegionInvalidator region, CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                return await _letters.ReadPendingAsync(region.Name, ReadLimit, stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                await StalledAsync(region, ex, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Applies the letter in its region, waiting for as long as the region is unreachable; after <c>MaxRedriveTries</c>
    /// tries that failed on any other error, gives up and says which (the letter is then quarantined).
    /// </summary>
    private async Task<(RegionApplyResult Result, (int Tries, string Error)? Quarantine)> RedriveAsync(
        RegionInvalidator region, PendingRegionLetter pending, RegionDeadLetter letter, CancellationToken stoppingToken)
    {
        var tries = 0;
        while (true)
        {
            try
            {
                var result = await region.ApplyAsync(letter.Keys, letter.Tags, stoppingToken).ConfigureAwait(false);
                Log.RegionRedriven(_logger, region.Name, pending.Where, letter.Keys.Count, letter.Tags.Count, result.KeysFound);
                return (result, null);
            }
            catch (RegionApplyException ex)
            {
                var error = ex.InnerException ?? ex;
                if (!region.Errors.IsTransient(error) && ++tries >= _options.DeadLetter.MaxRedriveTries)
                {
                    return (default, (tries, Log.Describe(error)));
                }

                var delay = _options.DeadLetter.RedriveRetryInterval;
                Log.RedriveWaiting(_logger, region.Name, Log.Describe(ex.InnerException), pending.Where, delay);
                await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task QuarantineAsync(
        RegionInvalidator region, PendingRegionLetter pending, RegionDeadLetter letter, int tries, string error, CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                await _refusals.QuarantineAsync(letter, pending.Where, tries, error, stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                await StalledAsync(region, ex, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task WriteRefusedAsync(
        RegionInvalidator region, RegionRefusals refusals, IReadOnlyList<RegionDeadLetter.SourceRange> sources, CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                await _refusals.WriteAsync(refusals, "", sources, stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                await StalledAsync(region, ex, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task MarkAsync(RegionInvalidator region, PendingRegionLetter letter, CancellationToken stoppingToken)
    {
        while (true)
        {
            try
            {
                await _letters.MarkRedrivenAsync(letter, stoppingToken).ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
            {
                await StalledAsync(region, ex, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    private async Task StalledAsync(RegionInvalidator region, Exception exception, CancellationToken stoppingToken)
    {
        var delay = _options.DeadLetter.RedriveRetryInterval;
        if (_stalledLog.ShouldLog(region.Name, out var suppressed))
        {
            Log.RedriveStalled(_logger, region.Name, _letters.Name, Log.Describe(exception), delay, suppressed);
        }

        await Task.Delay(delay, _time, stoppingToken).ConfigureAwait(false);
    }
}
