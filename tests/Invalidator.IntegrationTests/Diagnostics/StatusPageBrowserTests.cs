using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>
/// The status page in a real headless browser (Debian's Chromium) against a running worker: the numbers its
/// scripts render from <c>/status.json</c>, and a screenshot kept as a test artifact.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed partial class StatusPageBrowserTests(ServersFixture servers)
{
    private static readonly TimeSpan ScriptBudget = TimeSpan.FromSeconds(3);

    /// <summary>Where the screenshot goes: the test project's TestResults/ (gitignored, cleared per run by scripts/test.sh).</summary>
    public static string ScreenshotPath => Path.Combine(Repository.TestProject, "TestResults", "artifacts", "status-page.png");

    [Fact]
    public async Task The_page_renders_records_lag_per_partition_regions_and_dead_letters()
    {
        await using var worker = await ObservedWorker.StartAsync(servers, "page");
        var status = await worker.StatusAsync();

        var dom = await Chromium.DumpDomAsync(worker.Http.StatusAddress, ScriptBudget);

        Assert.Equal("true", Attribute(dom, "body", "data-loaded"));
        Assert.Equal(ObservedWorker.RecordCount.ToString(CultureInfo.InvariantCulture), ElementText(dom, "records-applied"));
        Assert.Equal("healthy", ElementText(dom, "live"));
        Assert.Equal("ready", ElementText(dom, "ready"));
        Assert.Equal("1", ElementText(dom, "dead-letter-total"));
        Assert.Matches(@"^\d+ ms$|^\d+(\.\d+)? s$", ElementText(dom, "e2e-p50"));
        Assert.Equal("0", ElementText(dom, "second-deletes-pending"));
        Assert.Equal("no global delay", ElementText(dom, "second-delete-delay"));
        Assert.Equal("0", ElementText(dom, "second-deletes-early"));
        Assert.Equal("(none configured: Invalidator:Consistency:ReadReplicas)", ElementText(dom, "replicas-scope"));
        Assert.Contains("no read replicas", ElementText(dom, "replicas"), StringComparison.Ordinal);

        for (var partition = 0; partition < ObservedWorker.Partitions; partition++)
        {
            var row = Row(dom, "data-partition", $"{worker.Topic}[{partition}]");
            Assert.Equal(worker.Topic, Cell(row, "source"));
            Assert.Equal(partition.ToString(CultureInfo.InvariantCulture), Cell(row, "partition"));
            Assert.Equal("0", Cell(row, "lag-messages"));
        }

        foreach (var region in servers.Regions)
        {
            var row = Row(dom, "data-region", region);
            Assert.Equal("ok", Cell(row, "state"));
            Assert.Equal("closed", Cell(row, "circuit"));
            var keysDeleted = status.GetProperty("regions").EnumerateArray().Single(r => r.GetProperty("name").GetString() == region).GetProperty("keysDeleted").GetInt64();
            Assert.Equal(keysDeleted.ToString("N0", CultureInfo.InvariantCulture), Cell(row, "keys-deleted"));
            Assert.Matches(@"^\d+ %$", Cell(row, "hit-ratio"));
            var secondDeletes = status.GetProperty("regions").EnumerateArray().Single(r => r.GetProperty("name").GetString() == region).GetProperty("secondDeletes").GetInt64();
            Assert.True(secondDeletes >= 7, $"the changes' keys were deleted again in {region}");
            Assert.Equal(secondDeletes.ToString("N0", CultureInfo.InvariantCulture), Cell(row, "second-deletes"));
            Assert.Equal("0", Cell(row, "second-delete-hits"));
        }

        var deadLetter = Row(dom, "data-dead-letter", "");
        Assert.Equal("poison", Cell(deadLetter, "reason"));
        Assert.StartsWith($"{worker.Topic}[1]@1: ", Cell(deadLetter, "summary"), StringComparison.Ordinal);

        // The sparkline has a point per second of the last minute.
        var points = Attribute(dom, "polyline id=\"sparkline-line\"", "points");
        Assert.Equal(60, points.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length);

        await Chromium.ScreenshotAsync(worker.Http.StatusAddress, ScreenshotPath, ScriptBudget);
        Assert.True(new FileInfo(ScreenshotPath).Length > 10_000, "the screenshot shows a rendered page");
    }

    [Fact]
    public async Task The_page_shows_shadow_mode_the_rules_version_a_refused_reload_and_the_shadow_counts()
    {
        const string rules = "tables:\n  public.customers:\n    keys: [\"customer:{id}\", \"customer:email:{email}\"]\n";
        await using var harness = new WorkerHarness(servers, rules, "page-shadow");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Mode"] = "Shadow";
        harness.Settings["Invalidator:Rules:Debounce"] = "00:00:00.100";
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1, email = "a@x" }));
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 2, email = "b@x" }));
        await Eventually.AssertAsync(() => harness.Logs.Count(3006) == 1, TimeSpan.FromSeconds(60), "the worker watches its rules file");
        await File.WriteAllTextAsync(harness.RulesPath, "tables:\n  public.customers:\n    kyes: []\n");
        await Eventually.AssertAsync(
            async () =>
            {
                var (_, body) = await http.GetStatusJsonAsync();
                return body.GetProperty("shadow").GetArrayLength() == 1 && body.GetProperty("shadow")[0].GetProperty("records").GetInt64() == 2
                    && body.GetProperty("rules").GetProperty("lastReload").ValueKind == System.Text.Json.JsonValueKind.Object;
            },
            TimeSpan.FromSeconds(60),
            "both changes are counted in shadow and the broken file is refused");

        var dom = await Chromium.DumpDomAsync(http.StatusAddress, ScriptBudget);

        var version = Invalidator.Worker.RulesReload.LoadedRules.VersionOf(rules);
        Assert.Equal("shadow mode: nothing is deleted", ElementText(dom, "mode"));
        Assert.Equal(version, ElementText(dom, "rules-version"));
        var rulesRow = Row(dom, "id", "rules");
        Assert.Equal(harness.RulesPath, Cell(rulesRow, "path"));
        Assert.Equal("1", Cell(rulesRow, "tables"));
        Assert.Equal("all (Invalidator:Mode = Shadow)", Cell(rulesRow, "shadow-tables"));
        Assert.Matches($@"rejected \(file changed\): version {version} stays live$", Cell(rulesRow, "last-reload"));
        Assert.Contains($"{harness.RulesPath}:3:5: unknown field", ElementText(dom, "reload-errors"), StringComparison.Ordinal);
        var shadow = Row(dom, "data-shadow", "public.customers");
        Assert.Equal("2", Cell(shadow, "records"));
        Assert.Equal("4", Cell(shadow, "keys"));
        Assert.StartsWith("key customer:{id} #", Cell(shadow, "example"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_page_shows_each_read_replica_its_replayed_position_lag_expired_waits_and_why_one_does_not_answer_without_its_password()
    {
        const string secret = "hunter2-replica-secret";
        await using var replicated = await Infrastructure.Postgres.ReplicatedPostgres.StartNewAsync();
        const string rules = "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    waitForReplicas: true\n";
        await using var harness = new WorkerHarness(servers, rules, "page-replicas");
        await harness.CreateTopicAsync(partitions: 1);
        harness.Settings["Invalidator:Consistency:ReadReplicas:standby"] = replicated.Standby.ConnectionString();
        harness.Settings["Invalidator:Consistency:ReadReplicas:down"] =
            new Npgsql.NpgsqlConnectionStringBuilder(replicated.Standby.ConnectionString()) { Port = 1, Password = secret, Timeout = 2 }.ConnectionString;
        harness.Settings["Invalidator:Consistency:Primary"] = replicated.Primary.ConnectionString();
        harness.Settings["Invalidator:Consistency:ReplicaWaitMax"] = "00:00:00.500";
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1 }));
        await Eventually.AssertAsync(
            async () =>
            {
                var (_, body) = await http.GetStatusJsonAsync();
                var replicas = body.GetProperty("replicas").EnumerateArray().ToDictionary(r => r.GetProperty("name").GetString()!);
                return replicas.Count == 2 && replicas["down"].GetProperty("waitsExpired").GetInt64() >= 1
                    && replicas["standby"].GetProperty("replayedLsn").ValueKind == System.Text.Json.JsonValueKind.String;
            },
            TimeSpan.FromSeconds(60),
            "the change's wait expired for the replica that is down, and the standby was polled");

        var dom = await Chromium.DumpDomAsync(http.StatusAddress, ScriptBudget);

        var standby = Row(dom, "data-replica", "standby");
        Assert.Equal("reachable", Cell(standby, "state"));
        Assert.Matches("^[0-9A-F]+/[0-9A-F]+$", Cell(standby, "replayed"));
        Assert.Matches(@"^\d+ ms$|^\d+(\.\d+)? s$", Cell(standby, "lag"));
        Assert.Equal("0", Cell(standby, "waits-expired"));
        Assert.Equal("–", Cell(standby, "error"));
        var down = Row(dom, "data-replica", "down");
        Assert.Equal("unreachable", Cell(down, "state"));
        Assert.Equal("–", Cell(down, "replayed"));
        Assert.True(long.Parse(Cell(down, "waits-expired"), NumberStyles.AllowThousands, CultureInfo.InvariantCulture) >= 1, "the expired wait is shown");
        Assert.NotEqual("–", Cell(down, "error"));
        Assert.DoesNotContain(secret, dom, StringComparison.Ordinal);
        Assert.Equal("(waits end at Invalidator:Consistency:ReplicaWaitMax)", ElementText(dom, "replicas-scope"));
    }

    [Fact]
    public async Task The_page_loads_nothing_from_elsewhere()
    {
        await using var worker = await ObservedWorker.StartAsync(servers, "assets");
        using var response = await worker.Http.GetStatusAsync("/");
        var html = await response.Content.ReadAsStringAsync();

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/html", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("default-src 'none'", string.Join(";", response.Headers.GetValues("Content-Security-Policy")), StringComparison.Ordinal);
        Assert.DoesNotMatch(ExternalReference(), html);
    }

    private static string ElementText(string dom, string id)
    {
        var match = Regex.Match(dom, $"<(\\w+)[^>]*\\bid=\"{Regex.Escape(id)}\"[^>]*>(.*?)</\\1>", RegexOptions.Singleline);
        Assert.True(match.Success, $"element #{id} in the rendered page");
        return WebUtility.HtmlDecode(Regex.Replace(match.Groups[2].Value, "<[^>]+>", "")).Trim();
    }

    private static string Attribute(string dom, string tagStart, string attribute)
    {
        var match = Regex.Match(dom, $"<{tagStart}[^>]*\\b{Regex.Escape(attribute)}=\"([^\"]*)\"");
        Assert.True(match.Success, $"<{tagStart} ...> with {attribute} in the rendered page");
        return WebUtility.HtmlDecode(match.Groups[1].Value);
    }

    private static string Row(string dom, string attribute, string value)
    {
        var match = Regex.Match(dom, $"<tr [^>]*{Regex.Escape(attribute)}=\"{Regex.Escape(WebUtility.HtmlEncode(value))}\"[^>]*>(.*?)</tr>", RegexOptions.Singleline);
        Assert.True(match.Success, $"a row with {attribute}=\"{value}\" in the rendered page");
        return match.Groups[1].Value;
    }

    private static string Cell(string row, string field)
    {
        var match = Regex.Match(row, $"<td[^>]*data-field=\"{Regex.Escape(field)}\"[^>]*>(.*?)</td>", RegexOptions.Singleline);
        Assert.True(match.Success, $"a {field} cell in {row}");
        return WebUtility.HtmlDecode(Regex.Replace(match.Groups[1].Value, "<[^>]+>", "")).Trim();
    }

    [GeneratedRegex(@"(src|href)\s*=\s*[""']?(https?:)?//|@import|url\(\s*[""']?https?:", RegexOptions.IgnoreCase)]
    private static partial Regex ExternalReference();
}
