using Invalidator.Core.Rules;

namespace Invalidator.Core.Coverage;

/// <summary>
/// Which cache keys and tags a rules file can ever invalidate: a key is covered when some table's key template
/// could render it (placeholders as wildcards, <see cref="KeyTemplate.Matches(string, PlaceholderMatching)"/>) or when it is one of a
/// rule's static <c>truncate</c> keys; a tag likewise by the tag templates and <c>truncate</c> tags. Names are
/// as the rules produce them, without a region's key prefix.
/// </summary>
public sealed class KeyCoverage
{
    private readonly Dictionary<string, string> _staticKeys = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> _staticTags = new(StringComparer.Ordinal);
    private readonly KeyTemplate[] _keyTemplates;
    private readonly KeyTemplate[] _tagTemplates;
    private readonly PlaceholderMatching _placeholders;

    public KeyCoverage(RuleSet rules, PlaceholderMatching placeholders = PlaceholderMatching.WithinSegment)
    {
        ArgumentNullException.ThrowIfNull(rules);
        _placeholders = placeholders;
        var keyTemplates = new List<KeyTemplate>();
        var tagTemplates = new List<KeyTemplate>();
        foreach (var rule in rules.Tables.Values.OrderBy(r => r.Table, StringComparer.Ordinal))
        {
            Add(rule.Keys, keyTemplates, _staticKeys);
            Add(rule.Tags, tagTemplates, _staticTags);
            foreach (var key in rule.TruncateKeys)
            {
                _staticKeys.TryAdd(key, $"truncate of {rule.Table}");
            }

            foreach (var tag in rule.TruncateTags)
            {
                _staticTags.TryAdd(tag, $"truncate of {rule.Table}");
            }
        }

        // The most specific template first (most literal text), so a key is attributed to the rule that means it.
        _keyTemplates = [.. keyTemplates.OrderByDescending(t => t.LiteralLength).ThenBy(t => t.Text, StringComparer.Ordinal)];
        _tagTemplates = [.. tagTemplates.OrderByDescending(t => t.LiteralLength).ThenBy(t => t.Text, StringComparer.Ordinal)];
    }

    /// <summary>The template (as written) or truncate rule that can invalidate this key; null when nothing can.</summary>
    public string? KeyCoveredBy(string key) => CoveredBy(key, _staticKeys, _keyTemplates);

    /// <summary>The tag template (as written) or truncate rule that can invalidate this tag; null when nothing can.</summary>
    public string? TagCoveredBy(string tag) => CoveredBy(tag, _staticTags, _tagTemplates);

    private string? CoveredBy(string name, Dictionary<string, string> statics, KeyTemplate[] templates)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (statics.TryGetValue(name, out var rule))
        {
            return rule;
        }

        foreach (var template in templates)
        {
            if (template.Matches(name, _placeholders))
            {
                return template.Text;
            }
        }

        return null;
    }

    private static void Add(IReadOnlyList<KeyTemplate> templates, List<KeyTemplate> dynamic, Dictionary<string, string> statics)
    {
        foreach (var template in templates)
        {
            if (template.IsStatic)
            {
                statics.TryAdd(template.StaticValue!, template.Text);
            }
            else if (!dynamic.Exists(t => t.Text == template.Text))
            {
                dynamic.Add(template);
            }
        }
    }
}
