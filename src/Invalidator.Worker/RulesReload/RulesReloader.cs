using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Events;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.RulesReload;

/// <summary>
/// Loads the rules file again and swaps it in when it validates. A file that does not validate is refused with the
/// same <c>file:line:column</c> errors as <c>rules check</c>, one log line each, then one line saying which version
/// stays live; the rules running keep running. The file's path is the one loaded at start. A file that validates but
/// asks what the configuration cannot give (<c>waitForReplicas: true</c> without a read replica, or in Kafka mode without
/// the primary) is refused the same way, with the start's message.
/// </summary>
internal sealed class RulesReloader
{
    /// <summary>The log category of the rules' lines (load, reload, watch), which <c>Logging:LogLevel</c> can name.</summary>
    public const string LogCategory = "Invalidator.Rules";

    public const string FileChanged = "file changed";
    public const string Sighup = "SIGHUP";

    private readonly LiveRules _live;
    private readonly WorkerEvents _events;
    private readonly TimeProvider _time;
    private readonly ConsistencyOptions _consistency;
    private readonly ChangeSourceKind _source;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();

    public RulesReloader(LiveRules live, WorkerEvents events, ILoggerFactory loggers, TimeProvider time, IOptions<InvalidatorOptions> options)
        : this(live, events, loggers, time, options?.Value.Consistency ?? throw new ArgumentNullException(nameof(options)), options.Value.Source)
    {
    }

    /// <param name="consistency">The read replicas a reload's <c>waitForReplicas</c> needs (none: such a reload is refused).</param>
    /// <param name="source">The source, which decides whether the primary is needed too.</param>
    internal RulesReloader(
        LiveRules live, WorkerEvents events, ILoggerFactory loggers, TimeProvider time, ConsistencyOptions? consistency = null, ChangeSourceKind source = ChangeSourceKind.Kafka)
    {
        ArgumentNullException.ThrowIfNull(loggers);
        _live = live;
        _events = events;
        _time = time;
        _consistency = consistency ?? new ConsistencyOptions();
        _source = source;
        _logger = loggers.CreateLogger(LogCategory);
    }

    public RulesReloadResult Reload(string trigger)
    {
        lock (_lock)
        {
            var current = _live.Current;
            var now = _time.GetUtcNow();
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

            // Valid on its own, but the configuration (read once at start) cannot serve it: refused like a bad file.
            if (ConsistencyOptionsValidation.ValidateRules(next.Rules, _consistency, _source) is { Count: > 0 } unserved)
            {
                foreach (var error in unserved)
                {
                    Log.RulesReloadError(_logger, LogText.Escape(error));
                }

                Log.RulesReloadRefused(_logger, current.Path, trigger, unserved.Count, current.Version, current.LoadedAtText);
                return Done(new RulesReload(now, trigger, RulesReloadResult.Rejected, null, [.. unserved]) { ErrorCount = unserved.Count }, null);
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
            _live.Record(reload);
        }
        else
        {
            _live.Apply(next, reload);
        }

        _events.Publish(new RulesReloaded(reload.Result.ToString().ToLowerInvariant()));
        return reload.Result;
    }
}
