using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Options;

/// <summary>
/// Every key under <c>Invalidator</c> that no option reads is an error, named with the closest known key.
/// The binder ignores such keys, so a misspelt <c>Regions:east:KeyPrefx</c> or <c>Batching:MaxRecord</c> would
/// otherwise change nothing and say nothing, and the worker would run on a configuration other than the one
/// written. An error (exit code 2) rather than a warning: like any bad value, it stops a deployment before the
/// worker acts on a setting it did not read. The open-ended maps (<c>Regions:&lt;name&gt;</c>,
/// <c>Kafka:Consumer:&lt;setting&gt;</c>, <c>Kafka:Producer:&lt;setting&gt;</c>) accept any key; librdkafka
/// itself refuses a setting it does not know.
/// </summary>
internal sealed class UnknownKeysValidator(IConfiguration configuration, ConfigurationSchema schema) : IValidateOptions<InvalidatorOptions>
{
    public ValidateOptionsResult Validate(string? name, InvalidatorOptions options)
    {
        var failures = Check(configuration.GetSection(schema.RootPath), schema);
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>One message per unknown key (the highest one: nothing is reported below a key already unknown).</summary>
    public static List<string> Check(IConfigurationSection section, ConfigurationSchema schema)
    {
        var failures = new List<string>();
        Walk(section, schema.Root, failures);
        return failures;
    }

    private static void Walk(IConfigurationSection section, ConfigurationSchema.Node node, List<string> failures)
    {
        foreach (var child in section.GetChildren())
        {
            switch (node)
            {
                case ConfigurationSchema.OpenNode:
                    break;
                case ConfigurationSchema.ValueNode:
                    failures.Add($"{child.Path} is not a known key: {section.Path} takes a value, not keys below it. Remove it, or set {section.Path} itself.");
                    break;
                case ConfigurationSchema.ListNode list:
                    Walk(child, list.Element, failures);
                    break;
                case ConfigurationSchema.MapNode { EnumKey: { } enumKey } when !Enum.TryParse(enumKey, child.Key, ignoreCase: true, out _):
                    failures.Add(Unknown(child, section.Path, Enum.GetNames(enumKey)));
                    break;
                case ConfigurationSchema.MapNode map:
                    Walk(child, map.Value, failures);
                    break;
                case ConfigurationSchema.ObjectNode members when members.Find(child.Key) is { } member:
                    Walk(child, member, failures);
                    break;
                case ConfigurationSchema.ObjectNode members:
                    failures.Add(Unknown(child, section.Path, members.Names));
                    break;
            }
        }
    }

    private static string Unknown(IConfigurationSection key, string parentPath, IEnumerable<string> known)
    {
        var below = CountKeysBelow(key);
        var what = below == 0 ? "" : $" (with the {below} key{(below == 1 ? "" : "s")} below it)";
        var closest = Closest(key.Key, known);
        var hint = closest is null
            ? $"{parentPath} has no keys below it."
            : $"the closest known key is {parentPath}:{closest}.";
        return $"{key.Path} is not a known key{what}; {hint} Correct or remove it.";
    }

    private static int CountKeysBelow(IConfigurationSection section) =>
        section.GetChildren().Sum(child => (child.Value is null ? 0 : 1) + CountKeysBelow(child));

    /// <summary>The known name with the fewest edits from <paramref name="key"/>, ignoring case; the first on a tie.</summary>
    internal static string? Closest(string key, IEnumerable<string> known) =>
        known.Select((name, index) => (Name: name, Index: index, Distance: EditDistance(key.ToUpperInvariant(), name.ToUpperInvariant())))
            .OrderBy(c => c.Distance)
            .ThenBy(c => c.Index)
            .Select(c => c.Name)
            .FirstOrDefault();

    /// <summary>Levenshtein distance (insertions, deletions, substitutions), with an adjacent swap counted as one edit.</summary>
    [SuppressMessage("Performance", "CA1814", Justification = "The table is a full rectangle: every cell is written, so a jagged array would waste nothing less.")]
    internal static int EditDistance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (var i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }

        for (var j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }

        return d[a.Length, b.Length];
    }
}
