using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using NpgsqlTypes;
using StackExchange.Redis;

namespace Invalidator.Worker.Consistency;

/// <summary>
/// Direct mode: publishes each region's applied position (<see cref="AppliedPositions"/>) in that region's Redis, as
/// <c>invalidator:applied</c> with the region's key prefix, holding the LSN in Postgres' text form (<c>16/B374D848</c>).
/// <c>Invalidator.Client</c> reads it for read-your-writes. One of the worker's reserved names: besides the probe's
/// canaries, the only value it writes. At most one write per region each time the watermark moves (so at most one per
/// batch, fewer when batches finish together), and never behind: a script compares before it sets, so a worker
/// behind another (or a restarted one streaming again from the slot's confirmed position) never moves it back.
/// </summary>
internal sealed class AppliedPositionWriter(AppliedPositions positions, RegionSet regions, ILogger<AppliedPositionWriter> logger, TimeProvider time) : BackgroundService
{
    /// <summary>The reserved name, after the region's key prefix.</summary>
    public const string KeyName = "invalidator:applied";

    /// <summary>How soon a failed write is tried again (a newer position is written as soon as there is one).</summary>
    internal static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(1);

    // Sets KEYS[1] to ARGV[1] only if it is further than the LSN there (each half of an LSN fits a Lua number exactly).
    private const string SetIfFurther = """
        local function parse(v)
          local hi, lo = string.match(v, '^(%x+)/(%x+)$')
          if not hi then return nil end
          return tonumber(hi, 16), tonumber(lo, 16)
        end
        local nh, nl = parse(ARGV[1])
        local current = redis.call('GET', KEYS[1])
        if current then
          local ch, cl = parse(current)
          if ch and (nh < ch or (nh == ch and nl <= cl)) then return 0 end
        end
        redis.call('SET', KEYS[1], ARGV[1])
        return 1
        """;

    private readonly Dictionary<string, ulong> _written = new(StringComparer.Ordinal);
    private readonly HashSet<string> _failing = new(StringComparer.Ordinal);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (true)
            {
                var changed = positions.Changed;
                var failed = await WriteAsync().ConfigureAwait(false);
                try
                {
                    await (failed ? changed.WaitAsync(RetryInterval, time, stoppingToken) : changed.WaitAsync(stoppingToken)).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // Try the failed regions again.
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: the next worker publishes from where it applies.
        }
    }

    /// <summary>Writes every region whose applied position moved; true when a write failed.</summary>
    private async Task<bool> WriteAsync()
    {
        var writes = new List<Task<bool>>();
        foreach (var region in regions.Regions)
        {
            if (positions.Applied(region.Name) is { } applied and > 0 && applied > _written.GetValueOrDefault(region.Name))
            {
                writes.Add(WriteAsync(region, applied));
            }
        }

        var results = await Task.WhenAll(writes).ConfigureAwait(false);
        return results.Contains(false);
    }

    private async Task<bool> WriteAsync(RegionInvalidator region, ulong applied)
    {
        var lsn = new NpgsqlLogSequenceNumber(applied).ToString();
        try
        {
            await region.Connection.GetDatabase().ScriptEvaluateAsync(SetIfFurther, [(RedisKey)(region.KeyPrefix + KeyName)], [lsn]).ConfigureAwait(false);
            lock (_written)
            {
                _written[region.Name] = applied;
                if (_failing.Remove(region.Name))
                {
                    Log.AppliedPositionWritten(logger, region.Name, lsn);
                }
            }

            return true;
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            lock (_written)
            {
                if (_failing.Add(region.Name))
                {
                    Log.AppliedPositionWriteFailed(logger, region.Name, region.KeyPrefix + KeyName, Log.Describe(ex));
                }
            }

            return false;
        }
    }
}
