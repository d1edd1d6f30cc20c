using System.CommandLine;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.Regions;
using Invalidator.Worker.RulesReload;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Cli.Replay;

/// <summary>
/// <c>replay --since &lt;time or duration&gt; [--until ...] [--table T] [--region R] [--dry-run] [--json]</c>: re-invalidates
/// a window of changes with the current rules, for "a region was restored from a snapshot of 2 hours ago" or "a bad
/// rules deploy missed a table for an hour". Progress on stderr, counts on stdout. Exit 0 when every region applied
/// everything, 1 when some region took part of it only as region letters (the worker's redrive applies them), 2 when
/// it cannot run, 3 in direct mode (a replication slot cannot rewind: see <c>dlq replay</c>).
/// </summary>
internal static class ReplayCommand
{
    public const int RegionLettersWritten = 1;
    public const int CannotRun = 2;
    public const int NotPossibleInDirectMode = 3;

    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = new Option<FileInfo?>("--config") { Description = "A JSON configuration file to use instead of appsettings.json (the worker's: broker, topics, regions and rules)." };
        var since = new Option<string>("--since")
        {
            Description = "Start of the window: an ISO 8601 time (2024-06-01T10:00:00Z; UTC unless it says otherwise) or a duration before now (2h, 90m, 1h30m, 2d).",
            Required = true,
        };
        var until = new Option<string?>("--until") { Description = "End of the window (excluded), written like --since. Default: the end of every partition when the replay starts." };
        var table = new Option<string?>("--table") { Description = "Re-invalidate only this table's changes (schema.table, as in the rules file), with its current rule." };
        var region = new Option<string?>("--region") { Description = "Apply only in this region (default: every region)." };
        var dryRun = new Option<bool>("--dry-run") { Description = "Read and plan the window and count what it would delete, but delete nothing." };
        var json = new Option<bool>("--json") { Description = "Print the counts as JSON: stdout then holds the JSON and nothing else." };
        var command = new Command("replay", "Re-invalidate the changes of a time window with the current rules (Kafka mode). Exit 0: applied; 1: a region took part only as region letters; 2: error; 3: direct mode.")
        {
            config, since, until, table, region, dryRun, json,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var window = ReplayWindow.Parse(parse.GetValue(since)!, parse.GetValue(until), DateTimeOffset.UtcNow);
                using var host = InvalidatorHost.CreateBuilder([], parse.GetValue(config)?.FullName).Build();
                var services = host.Services;
                var options = services.GetRequiredService<IOptions<InvalidatorOptions>>().Value;
                if (options.Source == ChangeSourceKind.Postgres)
                {
                    await error.WriteLineAsync(DirectModeAnswer(options)).ConfigureAwait(false);
                    return NotPossibleInDirectMode;
                }

                var summary = await RunAsync(services, options, window, parse.GetValue(table), parse.GetValue(region), parse.GetValue(dryRun), error, cancellationToken).ConfigureAwait(false);
                await output.WriteLineAsync(parse.GetValue(json) ? summary.ToJson() : summary.ToText()).ConfigureAwait(false);
                return summary.RegionLetters.Values.Sum() > 0 ? RegionLettersWritten : 0;
            }
            catch (Exception ex) when (StartupErrors.IsStartupError(ex))
            {
                await StartupErrors.WriteAsync(ex, error).ConfigureAwait(false);
                return CannotRun;
            }
            catch (Exception ex) when (ex is ReplayException or Confluent.Kafka.KafkaException or BatchFailedException or TimeoutException)
            {
                await error.WriteLineAsync($"replay failed: {ex.Message}").ConfigureAwait(false);
                return CannotRun;
            }
        });
        return command;
    }

    private static async Task<ReplaySummary> RunAsync(
        IServiceProvider services, InvalidatorOptions options, ReplayWindow window, string? table, string? region, bool dryRun, TextWriter error, CancellationToken cancellationToken)
    {
        // The worker's own loader and version: the rules a worker started now would run.
        var live = services.GetRequiredService<LiveRules>();
        var rules = live.Current;
        if (table is not null && !rules.Rules.Tables.ContainsKey(table))
        {
            throw new ReplayException($"--table {table}: {rules.Path} has no rule for that table (it has {string.Join(", ", rules.Rules.Tables.Keys.Order(StringComparer.Ordinal))}); replay re-applies the current rules");
        }

        var regionSet = services.GetRequiredService<RegionSet>();
        var targets = region is null
            ? regionSet.Regions
            : [regionSet.Find(region) ?? throw new ReplayException($"unknown region '{region}'; configured: {string.Join(", ", regionSet.Regions.Select(r => r.Name))}")];
        var time = services.GetRequiredService<TimeProvider>();
        var events = services.GetRequiredService<WorkerEvents>();
        var loggers = services.GetRequiredService<ILoggerFactory>();
        var planner = new RecordIntake(
            table is null ? live : new LiveRules(rules.Only(table)), options.Mode, events, loggers.CreateLogger<RecordIntake>(), time);
        // The worker's apply path: the regions' resilience, and region letters for a region that cannot take its share.
        var store = dryRun ? null : new CountingDeadLetterWriter(services.GetRequiredService<IDeadLetterWriter>());
        var applier = store is null
            ? null
            : new BatchApplier(new RegionSet(targets), store, [], events, loggers.CreateLogger<BatchApplier>(), time);
        var settings = new KafkaReplaySettings(options, window, table, targets.Select(t => t.Name).ToList(), dryRun, rules.Version);
        var progress = new ReplayProgress(error, ReplayProgress.IsTerminal(error), time);
        await error.WriteLineAsync($"replay: {window}, rules version {rules.Version}{(table is null ? "" : $", table {table}")}, regions {string.Join(", ", settings.Regions)}{(dryRun ? ", dry run" : "")}").ConfigureAwait(false);
        using var replay = new KafkaReplay(settings, planner, applier, error, time);
        var summary = await replay.RunAsync(progress, cancellationToken).ConfigureAwait(false);
        summary.RegionLetters = store?.RegionLetters ?? new Dictionary<string, int>();
        return summary;
    }

    /// <summary>What direct mode can and cannot do, for the operator who asked for a replay.</summary>
    private static string DirectModeAnswer(InvalidatorOptions options)
    {
        var table = options.DeadLetter.Table.Contains('.', StringComparison.Ordinal) ? options.DeadLetter.Table : "public." + options.DeadLetter.Table;
        return $"""
            replay is not possible in direct mode (Invalidator:Source = Postgres): a logical replication slot only moves forward.
            Once the worker confirms a position, Postgres may discard the WAL before it, and no slot can be moved back to a point in time.
            What is possible:
              - invalidations a region could not apply are region rows of the dead-letter table {table}: the worker redrives them by itself once the region answers;
              - changes whose rules could not be evaluated are its poison rows: after a rules fix, re-plan them with `invalidator dlq replay` (add --dry-run to count first);
              - a region restored from an older snapshot, or a table a rules deploy missed: delete the affected keys in that region (or flush it), or let their TTLs expire;
              - to replay by time, run the Kafka source (Debezium), whose topics keep their history for the topics' retention.
            """;
    }
}
