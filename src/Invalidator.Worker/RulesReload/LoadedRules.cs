using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Worker.RulesReload;

/// <summary>
/// One version of the rules file as the worker runs it: the rules, the planner built from them and their decoder
/// hints, which always go together (a record decoded with one version's hints is planned with the same version).
/// </summary>
internal sealed class LoadedRules
{
    private LoadedRules(RuleSet rules, string version, DateTimeOffset loadedAt, RulesLimits limits, int maxKeyBytes, string? canaryTable = null)
    {
        CanaryTable = canaryTable;
        Limits = limits;
        Rules = rules;
        Version = version;
        LoadedAt = loadedAt;
        Planner = new InvalidationPlanner(rules, maxKeyBytes);
    }

    /// <summary>The longest rendered key or tag (<c>Invalidator:Rules:MaxKeyBytes</c>); a reload keeps it.</summary>
    public int MaxKeyBytes => Planner.MaxKeyBytes;

    public RuleSet Rules { get; }

    /// <summary>The first 12 hex digits of the SHA-256 of the file's text: the same file has the same version everywhere.</summary>
    public string Version { get; }

    public DateTimeOffset LoadedAt { get; }

    public string Path => Rules.SourcePath;

    /// <summary>The limits this version was read within; a reload reads the file again within the same.</summary>
    public RulesLimits Limits { get; }

    internal InvalidationPlanner Planner { get; }

    /// <summary>The canary table whose built-in rule was added (<c>Invalidator:Probe:Table</c>); a reload adds the same.</summary>
    public string? CanaryTable { get; }

    /// <summary><see cref="LoadedAt"/> as the metric label and the status page show it (ISO 8601, UTC, seconds).</summary>
    public string LoadedAtText => LoadedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>
    /// Reads and validates a rules file with the loader every command uses (<see cref="RulesLoader"/>), so the running
    /// worker, <c>explain</c> and <c>rules check</c> agree on what a file means and which version it is.
    /// </summary>
    /// <remarks>
    /// The canary table's built-in rule (<see cref="CanaryRule"/>) is added for <paramref name="canaryTable"/>, so every
    /// worker deletes canaries whether or not it probes itself; null adds none.
    /// </remarks>
    /// <exception cref="RulesException">The file cannot be read or does not validate (file:line:column errors).</exception>
    public static LoadedRules Load(
        string path, DateTimeOffset now, RulesLimits? limits = null, int maxKeyBytes = InvalidationPlanner.DefaultMaxKeyBytes, string? canaryTable = CanaryRule.DefaultTable)
    {
        limits ??= RulesLimits.Default;
        var text = RulesLoader.ReadFile(path, limits);
        var rules = RulesLoader.Parse(text, path, limits);
        if (canaryTable is not null)
        {
            rules = CanaryRule.AddTo(rules, canaryTable);
        }

        return new LoadedRules(rules, VersionOf(text), now, limits, maxKeyBytes, canaryTable);
    }

    /// <summary>The same version restricted to one table's rule (<c>replay --table</c>): other tables' changes plan as no rule.</summary>
    internal LoadedRules Only(string table) =>
        new(new RuleSet(Rules.SourcePath, Rules.Tables.Values.Where(t => t.Table == table)), Version, LoadedAt, Limits, MaxKeyBytes, CanaryTable);

    /// <summary>Rules that did not come from a file the worker reads (benchmarks, tests): versioned by their path.</summary>
    internal static LoadedRules Of(RuleSet rules, DateTimeOffset now, int maxKeyBytes = InvalidationPlanner.DefaultMaxKeyBytes) =>
        new(rules, VersionOf(rules.SourcePath), now, RulesLimits.Default, maxKeyBytes);

    public static string VersionOf(string text) =>
        Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)))[..12];
}
