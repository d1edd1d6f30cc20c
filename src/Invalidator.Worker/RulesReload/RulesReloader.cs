using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Microsoft.Extensions.Logging;

namespace Invalidator.Worker.RulesReload;

/// <summary>
/// Loads the rules file again and swaps it in when it validates. A file that does not validate is refused with the
/// same <c>file:line:column</c> errors as <c>rules check</c>, one log line each, then one line saying which version
/// stays live; the rules running keep running. The file's path is the one loaded at start.
/// </summary>
internal sealed class RulesReloader(LiveRules live, WorkerEvents events, ILoggerFactory loggers, TimeProvider time)
{
    /// <summary>The log category of the rules' lines (load, reload, watch), which <c>Logging:LogLevel</c> can name.</summary>
    public const string LogCategory = "Invalidator.Rules";

    public const string FileChanged = "file changed";
    public const string Sighup = "SIGHUP";

    private readonly ILogger _logger = loggers.CreateLogger(LogCategory);
    private readonly Lock _lock = new();

    public RulesReloadResult Reload(string trigger)
    {
        lock (_lock)
        {
            var current = live.Current;
            var now = time.GetUtcNow();
            LoadedRules next;
            try
            {
                next = LoadedRules.Load(current.Path, now, current.Limits, current.MaxKeyBytes, current.CanaryTable);
            }
            catch (RulesException ex)
            {
                // At most the first RulesLimits.MaxErrors, each a bounded line: a refused file costs little to keep.
                foreach (var error in ex.Errors)
                {
                    Log.RulesReloadError(_logger, LogText.Escape(error.ToString()));
                }

                if (ex.MoreErrors > 0)
                {
                    Log.RulesReloadMoreErrors(_logger, ex.MoreErrors, current.Path, ex.Errors.Count);
                }

                Log.RulesReloadRefused(_logger, current.Path, trigger, ex.TotalErrors, current.Version, current.LoadedAtText);
                return Done(new RulesReload(now, trigger, RulesReloadResult.Rejected, null, [.. ex.Errors.Select(e => e.ToString())]) { ErrorCount = ex.TotalErrors }, null);
            }

            if (next.Version == current.Version)
            {
                // A touch, an editor's extra write, a ConfigMap's metadata: said at debug level unless someone asked.
                Log.RulesUnchanged(_logger, trigger == Sighup ? LogLevel.Information : LogLevel.Debug, current.Path, trigger, current.Version);
                return Done(new RulesReload(now, trigger, RulesReloadResult.Unchanged, current.Version, []), null);
            }

            var result = Done(new RulesReload(now, trigger, RulesReloadResult.Applied, next.Version, []), next);
            Log.RulesReloaded(_logger, next.Path, trigger, next.Version, next.Rules.Tables.Values.Count(t => !t.BuiltIn), current.Version);
            LogShadowRules(_logger, next.Rules);
            return result;
        }
    }

    /// <summary>Which tables of these rules run in shadow, when some do.</summary>
    public static void LogShadowRules(ILogger logger, RuleSet rules)
    {
        if (rules.HasShadowRules)
        {
            Log.ShadowRules(logger, string.Join(", ", rules.Tables.Values.Where(t => t.Shadow).Select(t => t.Table).Order(StringComparer.Ordinal)));
        }
    }

    private RulesReloadResult Done(RulesReload reload, LoadedRules? next)
    {
        if (next is null)
        {
            live.Record(reload);
        }
        else
        {
            live.Apply(next, reload);
        }

        events.Publish(new RulesReloaded(reload.Result.ToString().ToLowerInvariant()));
        return reload.Result;
    }
}
