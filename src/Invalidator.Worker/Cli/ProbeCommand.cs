using System.CommandLine;
using System.Globalization;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.Probe;
using Invalidator.Worker.Regions;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Npgsql;

namespace Invalidator.Worker.Cli;

/// <summary>
/// <c>probe --once [--config F]</c>: one round of the freshness probe from the command line, against the running
/// workers of a deployment: a canary in every region, the canary row updated under this command's own worker name
/// (<c>&lt;host&gt;-once</c>), each region watched until its canary is gone. Prints one line per region; exit 0 when every
/// canary is ok, 1 when one is late or lost, 2 when the round cannot run.
/// </summary>
internal static class ProbeCommand
{
    public const int LateOrLost = 1;
    public const int CannotRun = 2;

    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = new Option<FileInfo?>("--config") { Description = "A JSON configuration file to use instead of appsettings.json (the worker's: regions, source and Invalidator:Probe)." };
        var once = new Option<bool>("--once") { Description = "Run one round and print per-region figures (the probe's rounds otherwise run inside the worker, Invalidator:Probe:Enabled)." };
        var command = new Command("probe", "Time a canary from its database commit to gone in every region. Exit 0: all ok; 1: a canary late or lost; 2: error.")
        {
            config, once,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            if (!parse.GetValue(once))
            {
                await error.WriteLineAsync("probe: add --once to run one round here; the worker probes every Invalidator:Probe:Interval when Invalidator:Probe:Enabled is true.").ConfigureAwait(false);
                return CannotRun;
            }

            try
            {
                using var host = InvalidatorHost.CreateBuilder([], parse.GetValue(config)?.FullName).Build();
                var options = host.Services.GetRequiredService<IOptions<InvalidatorOptions>>().Value;
                // The round needs what an enabled probe needs, whether or not the workers probe themselves.
                var failures = new List<string>();
                ProbeOptionsValidation.Validate(new ProbeOptions
                {
                    Enabled = true,
                    Interval = options.Probe.Interval,
                    Table = options.Probe.Table,
                    Objective = options.Probe.Objective,
                    Deadline = options.Probe.Deadline,
                    ConnectionString = options.Probe.ConnectionString,
                }, options.Source, failures);
                if (failures.Count > 0)
                {
                    throw new OptionsValidationException(InvalidatorOptions.SectionName, typeof(InvalidatorOptions), failures);
                }

                return await RunOnceAsync(host.Services, options, output, error, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (StartupErrors.IsStartupError(ex))
            {
                await StartupErrors.WriteAsync(ex, error).ConfigureAwait(false);
                return CannotRun;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or ArgumentException or InvalidOperationException && !cancellationToken.IsCancellationRequested)
            {
                await error.WriteLineAsync($"probe failed: {ex.Message}").ConfigureAwait(false);
                return CannotRun;
            }
        });
        return command;
    }

    private static async Task<int> RunOnceAsync(IServiceProvider services, InvalidatorOptions options, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var loggers = services.GetRequiredService<ILoggerFactory>();
        var regions = services.GetRequiredService<RegionSet>();
        var table = new CanaryTable(ProbeService.DataSource(options), options.Probe.Table);
        await using var disposeTable = table.ConfigureAwait(false);
        var problems = await table.CheckAsync(options.Source == ChangeSourceKind.Postgres ? options.Postgres.Publication : null, cancellationToken).ConfigureAwait(false);
        if (problems.Count > 0)
        {
            foreach (var problem in problems)
            {
                await error.WriteLineAsync(problem).ConfigureAwait(false);
            }

            return CannotRun;
        }

        var targets = CanaryTargets.For(regions, options.Regions, loggers);
        try
        {
            var worker = ProbeWorkerName.FromHost().Value + "-once";
            var probe = new CanaryProbe(options.Probe, options.Source, targets, table, worker, WorkerEvents.None, loggers.CreateLogger(typeof(ProbeCommand)), TimeProvider.System);
            await probe.StartAsync(cancellationToken).ConfigureAwait(false);
            var outcomes = await probe.RunRoundAsync(cancellationToken).ConfigureAwait(false);
            foreach (var outcome in outcomes.OrderBy(o => o.Region, StringComparer.Ordinal))
            {
                var result = outcome.Result.ToString().ToLowerInvariant();
                await output.WriteLineAsync(outcome.Freshness is { } freshness
                    ? string.Create(CultureInfo.InvariantCulture, $"{outcome.Region}: {result} {freshness.TotalSeconds:0.000} s (objective {options.Probe.Objective.TotalSeconds:0.###} s, canary {outcome.Canary})")
                    : $"{outcome.Region}: {result} ({outcome.Reason})").ConfigureAwait(false);
            }

            return outcomes.All(o => o.Result == CanaryResult.Ok) ? 0 : LateOrLost;
        }
        finally
        {
            foreach (var target in targets)
            {
                target.Dispose();
            }
        }
    }
}
