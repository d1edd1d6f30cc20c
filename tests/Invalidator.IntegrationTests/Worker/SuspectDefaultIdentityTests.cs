using System.Net;
using System.Text.Json;
using System.Text.RegularExpressions;
using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// Deletes shaped like REPLICA IDENTITY DEFAULT's (the key's columns and type defaults elsewhere) of a table whose rule
/// does not state <c>replicaIdentity</c>, through the real Kafka path: counted per table, logged once a minute with the
/// fix, and shown on the status page. A table whose rule states its identity, and a delete with a real value, are not.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class SuspectDefaultIdentityTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.members:
            keys: ["member:{id}", "member:handle:{handle}"]
            tags: ["team:{team_id}"]
          public.accounts:
            keys: ["account:{id}", "account:owner:{owner}"]
            replicaIdentity: full
        """;

    [Fact]
    public async Task Default_identity_deletes_are_counted_logged_with_the_fix_and_shown_on_the_status_page()
    {
        await using var harness = new WorkerHarness(servers, Rules, "suspect-identity");
        await harness.CreateTopicAsync(partitions: 1);
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);

        // Three deletes Debezium sent under REPLICA IDENTITY DEFAULT: only id is real, the rest are its placeholders.
        for (var id = 1; id <= 3; id++)
        {
            await harness.ProduceAsync(Debezium.Envelope("d", new { id, handle = "", team_id = 0, active = false, note = (string?)null }, null, table: "members"), key: $"{{\"id\":{id}}}");
        }

        // A real row with one real value, and the same shape on a table whose rule says replicaIdentity: full.
        await harness.ProduceAsync(Debezium.Envelope("d", new { id = 4, handle = "ann", team_id = 0, active = false, note = (string?)null }, null, table: "members"), key: "{\"id\":4}");
        await harness.ProduceAsync(Debezium.Envelope("d", new { id = 5, owner = "" }, null, table: "accounts"), key: "{\"id\":5}");
        await Eventually.AssertAsync(async () => await servers.Kafka.GetLagAsync(harness.GroupId, harness.Topic) == 0, Deadline, "every delete is acknowledged");

        var samples = PrometheusText.Parse(await http.MetricsAsync());
        Assert.Equal(3, Assert.Single(samples, s => s.Name == "invalidator_suspect_default_identity_total" && s.Has("table", "public.members")).Value);
        Assert.DoesNotContain(samples, s => s.Name == "invalidator_suspect_default_identity_total" && s.Has("table", "public.accounts"));

        // Rate-limited: one line for the three deletes within the minute, naming the fix.
        var log = Assert.Single(harness.Logs.Entries, e => e.EventId == 8020);
        Assert.Contains("A delete of public.members", log.Message, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE public.members REPLICA IDENTITY FULL", log.Message, StringComparison.Ordinal);
        Assert.Contains("'replicaIdentity: default'", log.Message, StringComparison.Ordinal);

        var (status, body) = await http.GetStatusJsonAsync();
        Assert.Equal(200, status);
        var suspect = Assert.Single(body.GetProperty("suspectDefaultIdentity").EnumerateArray());
        Assert.Equal("public.members", suspect.GetProperty("table").GetString());
        Assert.Equal(3, suspect.GetProperty("deletes").GetInt64());
        Assert.Contains("REPLICA IDENTITY FULL", suspect.GetProperty("fix").GetString(), StringComparison.Ordinal);
        Assert.NotEqual(JsonValueKind.Null, suspect.GetProperty("lastAt").ValueKind);

        // The rendered page shows the table's row.
        var dom = await Chromium.DumpDomAsync(http.StatusAddress, TimeSpan.FromSeconds(3));
        var row = Regex.Match(dom, "<tr [^>]*data-suspect-identity=\"public.members\"[^>]*>(.*?)</tr>", RegexOptions.Singleline);
        Assert.True(row.Success, "a row for public.members on the status page");
        Assert.Equal("3", Cell(row.Groups[1].Value, "deletes"));
        Assert.Contains("replicaIdentity: default", Cell(row.Groups[1].Value, "fix"), StringComparison.Ordinal);
    }

    private static string Cell(string row, string field)
    {
        var match = Regex.Match(row, $"<td[^>]*data-field=\"{Regex.Escape(field)}\"[^>]*>(.*?)</td>", RegexOptions.Singleline);
        Assert.True(match.Success, $"a {field} cell in {row}");
        return WebUtility.HtmlDecode(Regex.Replace(match.Groups[1].Value, "<[^>]+>", "")).Trim();
    }
}
