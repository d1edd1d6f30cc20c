using System.Text.Json;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Infrastructure;
using YamlDotNet.RepresentationModel;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>
/// deploy/grafana and deploy/prometheus query only metrics the worker really serves: every metric name in
/// every PromQL expression is looked up in a running worker's <c>/metrics</c> after some traffic.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed partial class DashboardTests(ServersFixture servers)
{
    /// <summary>Series Prometheus makes itself, not the worker.</summary>
    private static readonly HashSet<string> PrometheusOwn = ["up", "scrape_duration_seconds", "scrape_samples_scraped"];

    /// <summary>Metrics only a direct-mode worker serves (the worker here is a Kafka one): <see cref="DirectModeLagTests"/> checks them.</summary>
    internal static readonly HashSet<string> DirectModeOnly = ["invalidator_slot_lag_bytes"];

    private static readonly HashSet<string> Keywords = ["and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "inf", "nan", "Inf", "NaN"];

    public static IEnumerable<object[]> Dashboards() =>
        Directory.EnumerateFiles(Path.Combine(Repository.Root, "deploy", "grafana"), "*.json", SearchOption.AllDirectories)
            .Select(f => new object[] { Path.GetRelativePath(Repository.Root, f) });

    [Theory]
    [MemberData(nameof(Dashboards))]
    public async Task Every_metric_a_dashboard_queries_is_served_by_the_worker(string dashboardPath)
    {
        var expressions = DashboardExpressions(Path.Combine(Repository.Root, dashboardPath));
        var queried = expressions.SelectMany(MetricNames).Where(n => !DirectModeOnly.Contains(n)).ToHashSet(StringComparer.Ordinal);
        Assert.NotEmpty(queried);

        // The panels the issue asks for are there.
        Assert.Superset(
            new HashSet<string>(StringComparer.Ordinal)
            {
                "invalidator_consumer_lag_messages", "invalidator_lag_seconds", "invalidator_end_to_end_seconds_bucket",
                "invalidator_keys_deleted_total", "invalidator_keys_found_total", "invalidator_region_retries_total",
                "invalidator_region_circuit_open", "invalidator_dead_letters_total",
                "invalidator_second_deletes_total", "invalidator_second_delete_hits_total",
                "invalidator_replica_lag_seconds", "invalidator_replica_waits_expired_total", "invalidator_region_replica_acks_missing_total",
            },
            queried);

        // A read replica configured, so that its series exist (the issue's replica panels).
        await using var worker = await ObservedWorker.StartAsync(servers, "dashboard", ObservedWorker.WithUnreachableReplica);
        var served = PrometheusText.Names(await worker.ScrapeAsync());
        var missing = queried.Where(name => !served.Contains(name)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"{dashboardPath} queries metrics /metrics does not serve: {string.Join(", ", missing)}");
    }

    [Fact]
    public async Task Every_metric_an_alert_or_the_scrape_config_uses_is_served_by_the_worker()
    {
        var alerts = new YamlStream();
        using (var reader = File.OpenText(Path.Combine(Repository.Root, "deploy", "prometheus", "alerts.yml")))
        {
            alerts.Load(reader);
        }

        var expressions = Scalars(alerts.Documents[0].RootNode, "expr").ToList();
        Assert.NotEmpty(expressions);
        var queried = expressions.SelectMany(MetricNames).Where(n => !PrometheusOwn.Contains(n) && !DirectModeOnly.Contains(n)).ToHashSet(StringComparer.Ordinal);
        Assert.Contains("invalidator_region_circuit_open", queried);
        Assert.Contains("invalidator_dead_letters_total", queried);
        Assert.Contains("invalidator_consumer_lag_messages", queried);
        Assert.Contains("invalidator_replica_waits_expired_total", queried);
        Assert.Contains("invalidator_region_replica_acks_missing_total", queried);

        var scrape = File.ReadAllText(Path.Combine(Repository.Root, "deploy", "prometheus", "prometheus.yml"));
        Assert.Contains("metrics_path: /metrics", scrape, StringComparison.Ordinal);

        await using var worker = await ObservedWorker.StartAsync(servers, "alerts", ObservedWorker.WithUnreachableReplica);
        var served = PrometheusText.Names(await worker.ScrapeAsync());
        var missing = queried.Where(name => !served.Contains(name)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0, $"alerts.yml uses metrics /metrics does not serve: {string.Join(", ", missing)}");
    }

    [Fact]
    public void Metric_names_are_read_from_PromQL_without_functions_labels_or_variables()
    {
        var names = MetricNames("""histogram_quantile(0.99, sum by (region, le) (rate(invalidator_region_delete_seconds_bucket{region=~"$region", x!="a_b"}[$__rate_interval]))) / on (region) group_left max by (region) (other_metric offset 5m) > bool 1e3""");
        Assert.Equal(["invalidator_region_delete_seconds_bucket", "other_metric"], names.Order(StringComparer.Ordinal));
        Assert.Equal(["invalidator_records_total"], MetricNames("label_values(invalidator_records_total, topic)"));
    }

    /// <summary>Every PromQL expression of a Grafana dashboard: panel targets (rows included) and template variable queries.</summary>
    private static List<string> DashboardExpressions(string path)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(path));
        var root = document.RootElement;
        var expressions = new List<string>();
        void Panels(JsonElement panels)
        {
            foreach (var panel in panels.EnumerateArray())
            {
                if (panel.TryGetProperty("targets", out var targets))
                {
                    expressions.AddRange(targets.EnumerateArray().Where(t => t.TryGetProperty("expr", out _)).Select(t => t.GetProperty("expr").GetString()!));
                }

                if (panel.TryGetProperty("panels", out var nested))
                {
                    Panels(nested);
                }
            }
        }

        Panels(root.GetProperty("panels"));
        if (root.TryGetProperty("templating", out var templating))
        {
            foreach (var variable in templating.GetProperty("list").EnumerateArray().Where(v => v.GetProperty("type").GetString() == "query"))
            {
                var query = variable.GetProperty("query");
                expressions.Add(query.ValueKind == JsonValueKind.String ? query.GetString()! : query.GetProperty("query").GetString()!);
            }
        }

        return expressions;
    }

    /// <summary>Metric names in a PromQL expression (or a Grafana label_values query).</summary>
    private static IEnumerable<string> MetricNames(string expression)
    {
        if (LabelValues().Match(expression) is { Success: true } labelValues)
        {
            return [labelValues.Groups[1].Value];
        }

        var text = Strings().Replace(expression, "\"\"");
        text = Variables().Replace(text, "");
        text = Matchers().Replace(text, "");
        text = Ranges().Replace(text, "");
        text = Groupings().Replace(text, "");
        return Identifiers().Matches(text)
            .Where(m => !(m.Index + m.Length < text.Length && text[(m.Index + m.Length)..].TrimStart().StartsWith('(')))
            .Select(m => m.Value)
            .Where(name => !Keywords.Contains(name))
            .Distinct(StringComparer.Ordinal)
            .ToList();
    }

    private static IEnumerable<string> Scalars(YamlNode node, string key) => node switch
    {
        YamlMappingNode map => map.Children.SelectMany(pair =>
            pair.Key is YamlScalarNode { Value: var k } && k == key && pair.Value is YamlScalarNode { Value: { } value }
                ? [value]
                : Scalars(pair.Value, key)),
        YamlSequenceNode sequence => sequence.Children.SelectMany(child => Scalars(child, key)),
        _ => [],
    };

    [GeneratedRegex(@"^\s*label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,")]
    private static partial Regex LabelValues();

    [GeneratedRegex(@"""(?:[^""\\]|\\.)*""|'(?:[^'\\]|\\.)*'")]
    private static partial Regex Strings();

    [GeneratedRegex(@"\$\{?[a-zA-Z_][a-zA-Z0-9_]*\}?")]
    private static partial Regex Variables();

    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex Matchers();

    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Ranges();

    [GeneratedRegex(@"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")]
    private static partial Regex Groupings();

    [GeneratedRegex(@"(?<![\w.$])[a-zA-Z_:][a-zA-Z0-9_:]*")]
    private static partial Regex Identifiers();
}
