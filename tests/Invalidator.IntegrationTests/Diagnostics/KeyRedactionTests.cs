using System.Text.Json;
using Invalidator.IntegrationTests.Faults;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Infrastructure.Redis;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Diagnostics;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>
/// Keys hold row values (here an email address): wherever a running worker shows or logs one as an example (the
/// shadow example on the status page and in the log, a failing region's error, the recent dead letters) it shows
/// the template and a short hash, unless <c>Invalidator:Diagnostics:ShowKeys</c> is true; metrics never carry one.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class KeyRedactionTests(ServersFixture servers)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Email = "carol.secret@example.com";

    private const string Rules = """
        tables:
          public.customers:
            tags: ["customer:email:{email}"]
          public.orders:
            keys: ["order:by-email:{email}"]
            shadow: true
        """;

    [Fact]
    public async Task Keys_are_redacted_by_default_in_the_status_the_logs_and_region_errors_and_never_in_metrics()
    {
        var (status, logs, metrics) = await RunAsync(showKeys: false);

        Assert.Contains(logs, line => line.StartsWith("Region down", StringComparison.Ordinal) && line.Contains("Timeout", StringComparison.Ordinal));
        Assert.DoesNotContain(Email, status, StringComparison.Ordinal);
        Assert.DoesNotContain(logs, line => line.Contains(Email, StringComparison.Ordinal));
        Assert.DoesNotContain(Email, metrics, StringComparison.Ordinal);
        var example = ShadowExample(status);
        Assert.Equal($"key order:by-email:{{email}} #{KeyRedaction.Hash("order:by-email:" + Email)}", example);
        Assert.Contains(logs, line => line.Contains($"(key order:by-email:{{email}} #{KeyRedaction.Hash("order:by-email:" + Email)})", StringComparison.Ordinal));
    }

    [Fact]
    public async Task ShowKeys_shows_whole_keys_and_metrics_still_carry_none()
    {
        var (status, logs, metrics) = await RunAsync(showKeys: true);

        Assert.Equal($"key order:by-email:{Email}", ShadowExample(status));
        // Control: the region's timeout names the key when ShowKeys lets it, so the redacted run above had one to hide.
        Assert.Contains(logs, line => line.StartsWith("Region down", StringComparison.Ordinal) && line.Contains("Timeout", StringComparison.Ordinal) && line.Contains(Email, StringComparison.Ordinal));
        Assert.Contains(logs, line => line.Contains($"(key order:by-email:{Email})", StringComparison.Ordinal));
        Assert.DoesNotContain(Email, metrics, StringComparison.Ordinal);
    }

    /// <summary>
    /// A worker with a live rule whose tag read times out in a paused region (retried, dead-lettered, shown as the
    /// region's last error: the Redis client's message names the command's key) and a shadow rule (its example shown):
    /// the status JSON, every log line, the metrics text.
    /// </summary>
    private async Task<(string Status, IReadOnlyList<string> Logs, string Metrics)> RunAsync(bool showKeys)
    {
        await using var harness = new WorkerHarness(servers, Rules, showKeys ? "keys-shown" : "keys-redacted");
        await harness.CreateTopicAsync(partitions: 1);
        await servers.Kafka.CreateTopicAsync(harness.DeadLetterTopic, 1);
        // A region of its own whose Redis is paused once the worker is connected: the client's timeout then names the
        // command and (unless told not to) its key.
        await using var slow = await RedisServers.StartNewAsync(1);
        harness.Settings["Invalidator:Regions:down:Redis"] = $"{slow.ConnectionString(0)},asyncTimeout=300,syncTimeout=300";
        harness.Settings["Invalidator:Regions:down:KeyPrefix"] = harness.KeyPrefix;
        harness.Settings["Invalidator:Diagnostics:ShowKeys"] = showKeys ? "true" : "false";
        var fast = new Dictionary<string, string?>();
        FaultSettings.ApplyFastResilience(fast, ["down"]);
        foreach (var (key, value) in fast)
        {
            harness.Settings[key] = value;
        }

        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(() => harness.Logs.Entries.Any(e => e.EventId == 2002 && e.Message.StartsWith("Region down connected", StringComparison.Ordinal)), Deadline, "the worker connects to the region");
        using (var pause = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(slow.ConnectionString(0) + ",allowAdmin=true"))
        {
            await pause.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "20000", "ALL");
        }

        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 1, email = Email }));
        await harness.ProduceAsync(Debezium.Envelope("u", null, new { id = 2, email = Email }, table: "orders"));

        await Eventually.AssertAsync(
            async () =>
            {
                var (_, body) = await http.GetStatusJsonAsync();
                return body.GetProperty("recentDeadLetters").GetArrayLength() > 0
                    && body.GetProperty("regions").EnumerateArray().Any(r => r.GetProperty("name").GetString() == "down" && r.GetProperty("lastError").ValueKind == JsonValueKind.String)
                    && body.GetProperty("shadow").GetArrayLength() > 0;
            },
            Deadline,
            "the down region's batch is dead-lettered and the shadow plan is counted");

        using var response = await http.GetStatusAsync("/status.json");
        var status = await response.Content.ReadAsStringAsync();
        var logs = harness.Logs.Entries.Select(e => e.Message).ToList();
        return (status, logs, await http.MetricsAsync());
    }

    private static string? ShadowExample(string status) =>
        JsonDocument.Parse(status).RootElement.GetProperty("shadow").EnumerateArray()
            .Single(t => t.GetProperty("table").GetString() == "public.orders").GetProperty("lastExample").GetString();
}
