using System.CommandLine;
using System.Globalization;
using Invalidator.Core.Coverage;
using Invalidator.Core.Rules;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using StackExchange.Redis;

namespace Invalidator.Worker.Cli.Audit;

/// <summary>
/// <c>audit [--config F] [--region R] [--rate N/s] [--sample N] [--json]</c>: the cached keys that nothing can
/// invalidate, by key shape. Exit 0 when every key is covered, 1 when some are not, 2 when the audit cannot run.
/// Progress goes to stderr; stdout holds only the report (with <c>--json</c>, only the JSON).
/// </summary>
internal static class AuditCommand
{
    public const int Uncovered = 1;
    public const int CannotRun = 2;
    public const double DefaultRate = 10_000;

    public static Command Build(TextWriter output, TextWriter error)
    {
        var config = new Option<FileInfo?>("--config") { Description = "A JSON configuration file to use instead of appsettings.json (the worker's: regions and rules)." };
        var region = new Option<string?>("--region") { Description = "Audit only this region (default: every region)." };
        var rate = new Option<string>("--rate")
        {
            Description = "At most this many reads per second per region, as N/s or N (keys scanned, tag-set members and TTLs read).",
            DefaultValueFactory = _ => string.Create(CultureInfo.InvariantCulture, $"{DefaultRate}/s"),
        };
        var sample = new Option<long?>("--sample") { Description = "Scan at most N keys per region (spread over a cluster's masters) instead of the whole keyspace." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON: stdout then holds the JSON and nothing else." };
        var wildcards = new Option<string>("--wildcards")
        {
            Description = "What a template's placeholder matches: 'segment' (the default: one or more characters, none of them a separator of the template, such as ':') or 'any' (any characters).",
            DefaultValueFactory = _ => "segment",
        };
        wildcards.AcceptOnlyFromAmong("segment", "any");
        var command = new Command("audit", "Find cached keys that no rule can invalidate (SCAN, rate-bounded, every master of a cluster). Exit 0: all covered; 1: uncovered keys; 2: error.")
        {
            config, region, rate, sample, json, wildcards,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            try
            {
                var limits = new AuditLimits(ParseRate(parse.GetValue(rate)!), parse.GetValue(sample) is { } n
                    ? n > 0 ? n : throw new AuditException($"--sample must be at least 1, not {n}")
                    : null);
                var placeholders = parse.GetValue(wildcards) == "any" ? PlaceholderMatching.Anything : PlaceholderMatching.WithinSegment;
                using var host = InvalidatorHost.CreateBuilder([], parse.GetValue(config)?.FullName).Build();
                var options = host.Services.GetRequiredService<IOptions<InvalidatorOptions>>().Value;
                var rules = host.Services.GetRequiredService<RuleSet>();
                // A shadow rule deletes nothing, so the keys only it renders are not covered.
                var deleting = rules.HasShadowRules ? new RuleSet(rules.SourcePath, rules.Tables.Values.Where(t => !t.Shadow)) : rules;
                var audit = new KeyspaceAudit(new KeyCoverage(deleting, placeholders), limits, error, TimeProvider.System);
                var results = new List<RegionAudit>();
                foreach (var (name, regionOptions) in await RedisRegionsAsync(options, parse.GetValue(region), error).ConfigureAwait(false))
                {
                    results.Add(await audit.RunAsync(name, regionOptions, cancellationToken).ConfigureAwait(false));
                }

                var report = new AuditReport(rules, placeholders, results);
                await output.WriteLineAsync(parse.GetValue(json) ? report.ToJson() : report.ToText().TrimEnd('\n')).ConfigureAwait(false);
                return report.Covered ? 0 : Uncovered;
            }
            catch (Exception ex) when (StartupErrors.IsStartupError(ex))
            {
                await StartupErrors.WriteAsync(ex, error).ConfigureAwait(false);
                return CannotRun;
            }
            catch (Exception ex) when (ex is AuditException or RedisException or TimeoutException or ArgumentException)
            {
                await error.WriteLineAsync($"audit failed: {ex.Message}").ConfigureAwait(false);
                return CannotRun;
            }
        });
        return command;
    }

    /// <summary><c>N/s</c> or <c>N</c>, N a positive number.</summary>
    public static double ParseRate(string text)
    {
        var number = text.EndsWith("/s", StringComparison.Ordinal) ? text[..^2] : text;
        return double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out var rate) && rate > 0 && double.IsFinite(rate)
            ? rate
            : throw new AuditException($"--rate must be a positive number of reads per second, such as 5000/s, not '{text}'");
    }

    /// <summary>
    /// The regions to audit: those of target Redis. The entries of FusionCache and the output cache are named by the
    /// library (its prefixes, its tag entries, the response keys), not by the rules' templates, so no audit of them
    /// could say anything about the rules; they are left out with a line on stderr.
    /// </summary>
    private static async Task<List<KeyValuePair<string, RegionOptions>>> RedisRegionsAsync(InvalidatorOptions options, string? only, TextWriter error)
    {
        var regions = options.Regions.OrderBy(r => r.Key, StringComparer.Ordinal).ToList();
        if (only is not null)
        {
            regions = regions.Where(r => string.Equals(r.Key, only, StringComparison.OrdinalIgnoreCase)).ToList();
            if (regions.Count == 0)
            {
                throw new AuditException($"unknown region '{only}'; configured: {string.Join(", ", options.Regions.Keys.Order(StringComparer.Ordinal))}");
            }
        }

        foreach (var (name, region) in regions.Where(r => r.Value.Target != RegionTarget.Redis))
        {
            await error.WriteLineAsync($"audit: region {name} left out: its Target is {region.Target}, and audit reads the keys of Target Redis only").ConfigureAwait(false);
        }

        regions = regions.Where(r => r.Value.Target == RegionTarget.Redis).ToList();
        return regions.Count > 0
            ? regions
            : throw new AuditException("no region of Target Redis to audit: audit reads the keys the rules' templates name, which FusionCache and the output cache do not store as such");
    }
}
