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

    public string ToJson() => JsonSerializer.Serialize(
        new AuditReportJson(
            rules.SourcePath,
            PlaceholderName(placeholders),
            Covered,
            regions.Sum(r => r.Uncovered.Keys),
            regions.Sum(r => r.Uncovered.WithoutTtl),
            regions.Sum(r => r.Uncovered.Shapes().Count),
            regions.Select(RegionJson).ToList()),
        ReportJsonContext.Default.AuditReportJson);

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

    private static AuditRegionJson RegionJson(RegionAudit region) => new(
        region.Region,
        region.KeyPrefix,
        region.Nodes,
        region.Sampled,
        region.Scanned,
        Math.Round(region.Elapsed.TotalSeconds, 3),
        new AuditCoveredJson(region.CoveredByTemplate, region.CoveredByTag, region.TagSets, region.TagMembersRead),
        region.CoveredByRule.Where(r => r.Value > 0).OrderBy(r => r.Key, StringComparer.Ordinal).ToDictionary(r => r.Key, r => r.Value),
        region.Vanished,
        new AuditUncoveredJson(
            region.Uncovered.Keys,
            region.Uncovered.WithoutTtl,
            region.Uncovered.Shapes().Select(shape => new AuditShapeJson(
                shape.Shape,
                shape.Count,
                shape.WithoutTtl,
                Seconds(shape.MinTtl),
                Seconds(shape.MaxTtl),
                shape.Examples.Select(e => new AuditExampleJson(e.Key, Seconds(e.Ttl))).ToList())).ToList()));

    private static double? Seconds(TimeSpan? value) => value is { } v ? Math.Round(v.TotalSeconds, 3) : null;
}

/// <summary><c>audit --json</c>: the totals, then each region.</summary>
internal sealed record AuditReportJson(
    string Rules,
    string Placeholders,
    bool Covered,
    long UncoveredKeys,
    long UncoveredWithoutTtl,
    int UncoveredShapes,
    IReadOnlyList<AuditRegionJson> Regions);

/// <summary>One region of the audit; <see cref="CoveredBy"/> counts keys per covering rule.</summary>
internal sealed record AuditRegionJson(
    string Region,
    string KeyPrefix,
    IReadOnlyList<string> Nodes,
    bool Sampled,
    long Scanned,
    double Seconds,
    AuditCoveredJson Covered,
    IReadOnlyDictionary<string, long> CoveredBy,
    long Vanished,
    AuditUncoveredJson Uncovered);

internal sealed record AuditCoveredJson(long ByTemplate, long ByTagSet, long TagSets, long TagMembersRead);

internal sealed record AuditUncoveredJson(long Keys, long WithoutTtl, IReadOnlyList<AuditShapeJson> Shapes);

/// <summary>An uncovered key shape; TTLs in seconds, null for none.</summary>
internal sealed record AuditShapeJson(string Shape, long Keys, long WithoutTtl, double? MinTtlSeconds, double? MaxTtlSeconds, IReadOnlyList<AuditExampleJson> Examples);

internal sealed record AuditExampleJson(string Key, double? TtlSeconds);
