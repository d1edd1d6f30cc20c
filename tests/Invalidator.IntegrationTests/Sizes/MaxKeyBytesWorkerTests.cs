using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

using static Invalidator.IntegrationTests.Worker.CachedKeys;

namespace Invalidator.IntegrationTests.Sizes;

/// <summary>
/// <c>Invalidator:Rules:MaxKeyBytes</c> on the running worker (direct mode, real Postgres and Redis): a rendered name over
/// it is never sent to Redis; it is counted in <c>invalidator_unresolved_templates_total</c> and logged with its reason,
/// and the row's other keys are deleted as usual.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class MaxKeyBytesWorkerTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private const string Rules = """
        tables:
          public.notes:
            keys: ["note:{id}", "notesize:title:{title}"]
        """;

    private static string Schema(string publication) => $"""
        CREATE TABLE notes (id int PRIMARY KEY, title text);
        ALTER TABLE notes REPLICA IDENTITY FULL;
        CREATE PUBLICATION {publication} FOR TABLE notes;
        """;

    [Fact]
    public async Task A_key_over_MaxKeyBytes_is_not_deleted_but_counted_and_logged_and_a_key_under_it_is_deleted()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "pgkeysize", Schema("pub_pgkeysize"));
        harness.Settings["Invalidator:Rules:MaxKeyBytes"] = "64";
        var regions = await fixture.ConnectRegionsAsync();
        var longTitle = new string('L', 80);
        var longKey = "notesize:title:" + longTitle;
        await SetAsync(regions, harness.KeyPrefix, ["note:1", "note:2", longKey, "notesize:title:short"]);
        var host = await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        await harness.ExecuteAsync($"INSERT INTO notes VALUES (1, '{longTitle}')");
        await harness.ExecuteAsync("INSERT INTO notes VALUES (2, 'short')");

        // The control: the same template under the bound is deleted.
        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["note:1", "note:2", "notesize:title:short"]), Deadline,
            "the keys that fit are deleted, the long row's id key too");
        Assert.True(await AllExistAsync(regions, harness.KeyPrefix, [longKey]), "the name over MaxKeyBytes is never sent to Redis");

        var logged = Assert.Single(harness.Logs.Entries, e => e.EventId == 3000 && e.Message.Contains("notesize:title:{title}", StringComparison.Ordinal));
        Assert.Contains("TooLong", logged.Message, StringComparison.Ordinal);
        Assert.Contains("95 bytes, over Invalidator:Rules:MaxKeyBytes (64)", logged.Message, StringComparison.Ordinal);

        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(
            async () => PrometheusText.Parse(await http.MetricsAsync())
                .Where(s => s.Name == "invalidator_unresolved_templates_total" && s.Has("template", "notesize:title:{title}"))
                .Sum(s => s.Value) == 1,
            Deadline,
            "the unrenderable name is counted once");
    }
}
