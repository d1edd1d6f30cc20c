using System.Globalization;
using System.Net;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Infrastructure;

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

        var dom = await Chromium.DumpDomAsync(worker.Http.BaseAddress, ScriptBudget);

        Assert.Equal("true", Attribute(dom, "body", "data-loaded"));
        Assert.Equal(ObservedWorker.RecordCount.ToString(CultureInfo.InvariantCulture), ElementText(dom, "records-applied"));
        Assert.Equal("healthy", ElementText(dom, "live"));
        Assert.Equal("ready", ElementText(dom, "ready"));
        Assert.Equal("1", ElementText(dom, "dead-letter-total"));
        Assert.Matches(@"^\d+ ms$|^\d+(\.\d+)? s$", ElementText(dom, "e2e-p50"));
        Assert.Equal("0", ElementText(dom, "second-deletes-pending"));
        Assert.Equal("no global delay", ElementText(dom, "second-delete-delay"));
        Assert.Equal("0", ElementText(dom, "second-deletes-early"));

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

        await Chromium.ScreenshotAsync(worker.Http.BaseAddress, ScreenshotPath, ScriptBudget);
        Assert.True(new FileInfo(ScreenshotPath).Length > 10_000, "the screenshot shows a rendered page");
    }

    [Fact]
    public async Task The_page_loads_nothing_from_elsewhere()
    {
        await using var worker = await ObservedWorker.StartAsync(servers, "assets");
        using var response = await worker.Http.GetAsync("/");
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
