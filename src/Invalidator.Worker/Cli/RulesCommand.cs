using System.CommandLine;
using Invalidator.Core.Rules;
using Invalidator.Worker.Cli.Diff;
using Invalidator.Worker.Consistency;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Invalidator.Worker.RulesReload;
using Invalidator.Worker.Sources.Postgres;
using Microsoft.Extensions.Configuration;

namespace Invalidator.Worker.Cli;

/// <summary>
/// <c>rules check &lt;file&gt; [--database &lt;connection string&gt;]</c>: validates a rules file as the worker's start does,
/// and with <c>--database</c> also runs the direct source's start-up checks against that database and the read-replica
/// checks of the worker's configuration (<c>appsettings.json</c> or <c>--config</c>). <c>rules diff</c>:
/// see <see cref="RulesDiffCommand"/>.
/// </summary>
internal static class RulesCommand
{
    public static Command Build(TextWriter output, TextWriter error)
    {
        var file = new Argument<FileInfo>("file") { Description = "The rules file (YAML)." };
        var database = new Option<string?>("--database")
        {
            Description = "A PostgreSQL connection string: also check that database for the direct source (wal_level, publication, replica identity, slot). " +
                "Leave the password out of it: --password-file, PGPASSWORD, PGPASSFILE or ~/.pgpass give it.",
        };
        var passwordFile = new Option<FileInfo?>("--password-file")
        {
            Description = "A file holding the password for --database (a trailing line break is ignored), so it is not on the command line.",
        };
        var publication = new Option<string>("--publication") { Description = "The publication to check (Invalidator:Postgres:Publication).", DefaultValueFactory = _ => PostgresOptions.DefaultName };
        var slot = new Option<string>("--slot") { Description = "The replication slot to check (Invalidator:Postgres:Slot).", DefaultValueFactory = _ => PostgresOptions.DefaultName };
        var maxBytes = new Option<int>("--max-bytes")
        {
            Description = "The largest rules file accepted, as the worker's Invalidator:Rules:MaxBytes (default 1048576, 1 MiB).",
            DefaultValueFactory = _ => RulesLimits.DefaultMaxBytes,
        };
        var config = new Option<FileInfo?>("--config")
        {
            Description = "With --database: a JSON configuration file to use instead of appsettings.json, whose read replicas " +
                "(Invalidator:Consistency:ReadReplicas) and, in Kafka mode with replica waits, primary (Invalidator:Consistency:Primary) are checked too.",
        };
        var probeTable = new Option<string>("--probe-table")
        {
            Description = "The canary table whose rule is built in (Invalidator:Probe:Table).",
            DefaultValueFactory = _ => CanaryRule.DefaultTable,
        };
        var check = new Command("check", "Check a rules file: exit 0 with a summary, or non-zero with file:line:column and how to fix each error.")
        {
            file, database, passwordFile, publication, slot, maxBytes, config, probeTable,
        };
        check.SetAction(async (parse, cancellationToken) =>
        {
            var path = parse.GetValue(file)!.FullName;
            try
            {
                var loaded = LoadedRules.Load(
                    path, DateTimeOffset.UtcNow, new RulesLimits { MaxBytes = Math.Max(1, parse.GetValue(maxBytes)) }, canaryTable: parse.GetValue(probeTable));
                var rules = loaded.Rules;
                var own = rules.Tables.Values.Where(t => !t.BuiltIn).ToList();
                var keys = own.Sum(t => t.Keys.Count);
                var tags = own.Sum(t => t.Tags.Count);
                var shadow = own.Count(t => t.Shadow);
                output.WriteLine($"{path}: OK, {own.Count} tables, {keys} key templates, {tags} tag templates" +
                    (shadow > 0 ? $", {shadow} in shadow" : "") + $" (version {loaded.Version})");
                foreach (var builtIn in rules.Tables.Values.Where(t => t.BuiltIn))
                {
                    output.WriteLine($"built in: {builtIn.Table} keys [\"{string.Join("\", \"", builtIn.Keys.Select(k => k.Text))}\"] (the freshness probe's canaries, Invalidator:Probe:Table)");
                }
                if (parse.GetValue(database) is not { } connectionString)
                {
                    return 0;
                }

                if (parse.GetValue(passwordFile) is { } secret)
                {
                    if (PostgresCredentials.HasPassword(connectionString))
                    {
                        error.WriteLine("--database has a password and --password-file is given too: remove the password from --database.");
                        return 1;
                    }

                    try
                    {
                        connectionString = PostgresCredentials.WithPassword(connectionString, null, secret.FullName, "--password-file");
                    }
                    catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
                    {
                        error.WriteLine($"--database is not a valid Npgsql connection string: {PostgresCredentials.DescribeInvalid(connectionString, ex, "--password-file")}.");
                        return 1;
                    }
                }

                var worker = InvalidatorHost.CreateBuilder([], parse.GetValue(config)?.FullName).Configuration.GetSection(InvalidatorOptions.SectionName);
                var consistency = worker.GetSection("Consistency").Get<ConsistencyOptions>() ?? new ConsistencyOptions();
                var source = worker.GetValue("Source", ChangeSourceKind.Kafka);
                return await CheckDatabaseAsync(
                    connectionString, parse.GetValue(publication)!, parse.GetValue(slot)!, rules, consistency, source, output, error, cancellationToken).ConfigureAwait(false);
            }
            catch (SecretFileException ex)
            {
                error.WriteLine(ex.Message);
                return 1;
            }
            catch (RulesException ex)
            {
                foreach (var rule in ex.Errors)
                {
                    error.WriteLine(rule.ToString());
                }

                error.WriteLine(ex.MoreErrors > 0
                    ? $"{ex.TotalErrors} error(s) in {path} (only the first {ex.Errors.Count} are shown)"
                    : $"{ex.TotalErrors} error(s) in {path}");
                return 1;
            }
        });
        return new Command("rules", "Work with rules files.") { check, RulesDiffCommand.Build(output, error) };
    }

    /// <summary>
    /// The start-up checks of the direct source, then those of the read replicas the worker's configuration names (and
    /// of its primary in Kafka mode with replica waits): findings on stdout (errors on stderr), exit 1 on any error. A
    /// replica that does not answer is an error here, though only a warning at the worker's start: the check was asked
    /// for and could not be made.
    /// </summary>
    private static async Task<int> CheckDatabaseAsync(
        string connectionString, string publication, string slot, RuleSet rules, ConsistencyOptions consistency, ChangeSourceKind source,
        TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var report = await PostgresSourceChecks.RunAsync(connectionString, publication, slot, rules, cancellationToken).ConfigureAwait(false);
        var configured = new List<string>();
        ConsistencyOptionsValidation.Validate(consistency, source, configured);
        configured.AddRange(ConsistencyOptionsValidation.ValidateRules(rules, consistency, source));
        foreach (var failure in configured)
        {
            report.Error(failure);
        }

        if (configured.Count == 0)
        {
            foreach (var finding in await ReplicaChecks.RunAsync(consistency, rules, source, cancellationToken).ConfigureAwait(false))
            {
                report.Findings.Add(finding.As(CheckSeverity.Error));
            }
        }

        foreach (var finding in report.Findings)
        {
            (finding.Severity == CheckSeverity.Error ? error : output).WriteLine(finding.ToString());
        }

        var errors = report.Findings.Count(f => f.Severity == CheckSeverity.Error);
        var warnings = report.Findings.Count(f => f.Severity == CheckSeverity.Warning);
        (errors > 0 ? error : output).WriteLine(
            $"database: {(errors > 0 ? "NOT READY" : "OK")}, {errors} error(s), {warnings} warning(s) for publication {publication} and slot {slot}" +
            (consistency.ReadReplicas.Count > 0 ? $" and read replica(s) {string.Join(", ", consistency.ReadReplicas.Keys.Order(StringComparer.Ordinal))}" : ""));
        return errors > 0 ? 1 : 0;
    }
}
