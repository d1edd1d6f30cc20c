using System.Globalization;
using System.Text;
using System.Text.Json;
using Invalidator.Core.Coverage;
using Invalidator.Core.Rules;

namespace Invalidator.Worker.Cli.Audit;

/// <summary>Durations as people read them: <c>45 s</c>, <c>12 min</c>, <c>3.5 h</c>, <c>2 d</c>.</summary>
internal static class AuditText
{
    public static string Duration(TimeSpan span) => span.TotalSeconds switch
    {
        < 10 => string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0.#} s"),
        < 120 => string.Create(CultureInfo.InvariantCulture, $"{span.TotalSeconds:0} s"),
        < 7200 => string.Create(CultureInfo.InvariantCulture, $"{span.TotalMinutes:0} min"),
        < 172_800 => string.Create(CultureInfo.InvariantCulture, $"{span.TotalHours:0.#} h"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{span.TotalDays:0.#} d"),
    };

    public static string Ttl(TimeSpan? ttl) => ttl is { } t ? "TTL " + Duration(t) : "no TTL";

    /// <summary><c>1 key</c>, <c>2 keys</c>.</summary>
    public static string Count(long n, string noun) => string.Create(CultureInfo.InvariantCulture, $"{n} {noun}{(n == 1 ? "" : "s")}");
}

/// <summary>The audit's result: text for people (stdout), or with <c>--json</c> one JSON object and nothing else.</summary>
internal sealed class AuditReport(RuleSet rules, PlaceholderMatching placeholders, IReadOnlyList<RegionAudit> regions)
{
    /// <summary>Shapes listed per region in the text report (the JSON lists every one).</summary>
    public const int TextShapes = 50;

    /// <summary>Examples per shape in the text report (the JSON has all the audit kept).</summary>
    public const int TextExamples = 2;

    public bool Covered => regions.All(r => r.Uncovered.Keys == 0);

    public string ToJson()
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteString("rules", rules.SourcePath);
            json.WriteString("placeholders", PlaceholderName(placeholders));
            json.WriteBoolean("covered", Covered);
            json.WriteNumber("uncoveredKeys", regions.Sum(r => r.Uncovered.Keys));
            json.WriteNumber("uncoveredWithoutTtl", regions.Sum(r => r.Uncovered.WithoutTtl));
            json.WriteNumber("uncoveredShapes", regions.Sum(r => r.Uncovered.Shapes().Count));
            json.WriteStartArray("regions");
            foreach (var region in regions)
            {
                WriteRegion(json, region);
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    public string ToText()
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"audit of {rules.SourcePath} (placeholders match {(placeholders == PlaceholderMatching.Anything ? "anything" : "within a segment")})\n");
        foreach (var region in regions)
        {
            var shapes = region.Uncovered.Shapes();
            text.Append(CultureInfo.InvariantCulture,
                $"\nregion {region.Region}: {region.Scanned} keys scanned on {string.Join(", ", region.Nodes)} (key prefix '{region.KeyPrefix}') in {AuditText.Duration(region.Elapsed)}{(region.Sampled ? ", a sample (--sample)" : "")}\n");
            text.Append(CultureInfo.InvariantCulture,
                $"  covered: {AuditText.Count(region.CoveredByTemplate + region.CoveredByTag, "key")} ({region.CoveredByTemplate} by key templates, {region.CoveredByTag} by {AuditText.Count(region.TagSets, "tag set")})\n");
            if (shapes.Count == 0)
            {
                text.Append("  every key is covered\n");
            }
            else
            {
                var neverExpire = shapes.Where(s => s.WithoutTtl > 0).ToList();
                text.Append(CultureInfo.InvariantCulture, $"  NOT COVERED: {AuditText.Count(region.Uncovered.Keys, "key")} in {AuditText.Count(shapes.Count, "shape")}");
                text.Append(neverExpire.Count > 0
                    ? string.Create(CultureInfo.InvariantCulture, $"; {AuditText.Count(region.Uncovered.WithoutTtl, "key")} in {AuditText.Count(neverExpire.Count, "shape")} {(region.Uncovered.WithoutTtl == 1 ? "has" : "have")} NO TTL: nothing will ever remove them\n")
                    : "; all of them have a TTL\n");
                var width = Math.Min(60, shapes.Take(TextShapes).Max(s => s.Shape.Length));
                foreach (var shape in shapes.Take(TextShapes))
                {
                    var ttls = shape.WithoutTtl == shape.Count ? "no TTL"
                        : AuditText.Duration(shape.MinTtl!.Value) == AuditText.Duration(shape.MaxTtl!.Value) ? AuditText.Ttl(shape.MaxTtl)
                        : $"TTL {AuditText.Duration(shape.MinTtl.Value)} to {AuditText.Duration(shape.MaxTtl.Value)}";
                    var counts = shape.WithoutTtl > 0 && shape.WithoutTtl < shape.Count
                        ? string.Create(CultureInfo.InvariantCulture, $"{AuditText.Count(shape.Count, "key")}, {shape.WithoutTtl} without TTL, the others {ttls}")
                        : string.Create(CultureInfo.InvariantCulture, $"{AuditText.Count(shape.Count, "key")}, {ttls}");
                    var examples = string.Join(", ", shape.Examples.Take(TextExamples).Select(e => $"{e.Key} ({AuditText.Ttl(e.Ttl)})"));
                    text.Append(CultureInfo.InvariantCulture, $"    {(shape.WithoutTtl > 0 ? "NO TTL" : "      ")}  {shape.Shape.PadRight(width)}  {counts}; e.g. {examples}\n");
                }

                if (shapes.Count > TextShapes)
                {
                    text.Append(CultureInfo.InvariantCulture, $"    ... and {AuditText.Count(shapes.Count - TextShapes, "more shape")} (--json lists them all)\n");
                }
            }

            if (region.CoveredByRule.Count > 0)
            {
                text.Append("  covered by: ")
                    .AppendJoin(", ", region.CoveredByRule.Where(r => r.Value > 0).OrderByDescending(r => r.Value).ThenBy(r => r.Key, StringComparer.Ordinal).Select(r => $"{r.Key} {r.Value}"))
                    .Append('\n');
            }
        }

        var uncovered = regions.Sum(r => r.Uncovered.Keys);
        text.Append('\n').Append(Covered
            ? string.Create(CultureInfo.InvariantCulture, $"result: every key is covered ({AuditText.Count(regions.Sum(r => r.Scanned), "key")} in {AuditText.Count(regions.Count, "region")})\n")
            : string.Create(CultureInfo.InvariantCulture,
                $"result: NOT COVERED: {AuditText.Count(uncovered, "key")} in {AuditText.Count(regions.Sum(r => r.Uncovered.Shapes().Count), "shape")}, {regions.Sum(r => r.Uncovered.WithoutTtl)} of them without TTL, in {regions.Count(r => r.Uncovered.Keys > 0)} of {AuditText.Count(regions.Count, "region")}\n"));
        return text.ToString();
    }

    public static string PlaceholderName(PlaceholderMatching placeholders) => placeholders == PlaceholderMatching.Anything ? "any" : "segment";

    private static void WriteRegion(Utf8JsonWriter json, RegionAudit region)
    {
        json.WriteStartObject();
        json.WriteString("region", region.Region);
        json.WriteString("keyPrefix", region.KeyPrefix);
        json.WriteStartArray("nodes");
        foreach (var node in region.Nodes)
        {
            json.WriteStringValue(node);
        }

        json.WriteEndArray();
        json.WriteBoolean("sampled", region.Sampled);
        json.WriteNumber("scanned", region.Scanned);
        json.WriteNumber("seconds", Math.Round(region.Elapsed.TotalSeconds, 3));
        json.WriteStartObject("covered");
        json.WriteNumber("byTemplate", region.CoveredByTemplate);
        json.WriteNumber("byTagSet", region.CoveredByTag);
        json.WriteNumber("tagSets", region.TagSets);
        json.WriteNumber("tagMembersRead", region.TagMembersRead);
        json.WriteEndObject();
        json.WriteStartObject("coveredBy");
        foreach (var (rule, keys) in region.CoveredByRule.Where(r => r.Value > 0).OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            json.WriteNumber(rule, keys);
        }

        json.WriteEndObject();
        json.WriteNumber("vanished", region.Vanished);
        json.WriteStartObject("uncovered");
        json.WriteNumber("keys", region.Uncovered.Keys);
        json.WriteNumber("withoutTtl", region.Uncovered.WithoutTtl);
        json.WriteStartArray("shapes");
        foreach (var shape in region.Uncovered.Shapes())
        {
            json.WriteStartObject();
            json.WriteString("shape", shape.Shape);
            json.WriteNumber("keys", shape.Count);
            json.WriteNumber("withoutTtl", shape.WithoutTtl);
            WriteSeconds(json, "minTtlSeconds", shape.MinTtl);
            WriteSeconds(json, "maxTtlSeconds", shape.MaxTtl);
            json.WriteStartArray("examples");
            foreach (var example in shape.Examples)
            {
                json.WriteStartObject();
                json.WriteString("key", example.Key);
                WriteSeconds(json, "ttlSeconds", example.Ttl);
                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        json.WriteEndArray();
        json.WriteEndObject();
        json.WriteEndObject();
    }

    private static void WriteSeconds(Utf8JsonWriter json, string name, TimeSpan? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, Math.Round(v.TotalSeconds, 3));
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
