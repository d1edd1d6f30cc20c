using Invalidator.IntegrationTests.Cli;
using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Infrastructure;

using static Invalidator.IntegrationTests.Worker.CachedKeys;

namespace Invalidator.IntegrationTests.Worker;

/// <summary>
/// Old rows under a replica identity other than FULL. The direct source learns each table's identity from the
/// stream (pgoutput's relation message) and trusts only the identity columns of an old row, as the Debezium decoder
/// does for <c>replicaIdentity: default</c>; <c>rules check --database</c> points at tables that need the field.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresReplicaIdentityTests(PostgresFixture fixture)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    // No replicaIdentity field: the direct source reads the identity from the stream.
    private const string Rules = """
        tables:
          public.seats:
            keys: ["seat:{seat_no}", "seat:holder:{holder}"]
            tags: ["section:{section_id}"]
        """;

    private static string Schema(string publication) => $"""
        CREATE TABLE seats (seat_no int PRIMARY KEY, holder text NOT NULL DEFAULT '', section_id int NOT NULL DEFAULT 0);
        CREATE PUBLICATION {publication} FOR TABLE seats;
        """;

    [Fact]
    public async Task Old_rows_under_the_default_identity_render_only_their_key_columns_and_say_REPLICA_IDENTITY_FULL()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "seatident", Schema("pub_seatident"));
        await harness.ExecuteAsync("INSERT INTO seats VALUES (14, 'ines', 3), (15, 'omar', 4)");
        var regions = await fixture.ConnectRegionsAsync();
        var host = await harness.StartAsync();
        await Eventually.AssertAsync(harness.SlotActiveAsync, Deadline, "the worker streams from its slot");

        // A delete (pgoutput's key tuple) and a primary-key change (its old key, then the new row).
        await SetAsync(regions, harness.KeyPrefix, ["seat:14", "seat:15", "seat:16", "seat:holder:omar", "member-of-section-4"]);
        foreach (var db in regions)
        {
            await db.SetAddAsync(harness.KeyPrefix + "tag:section:4", "member-of-section-4");
        }

        await harness.ExecuteAsync("DELETE FROM seats WHERE seat_no = 14");
        await harness.ExecuteAsync("UPDATE seats SET seat_no = 16 WHERE seat_no = 15");

        await Eventually.AssertAsync(() => NoneExistAsync(regions, harness.KeyPrefix, ["seat:14", "seat:15", "seat:16", "seat:holder:omar", "member-of-section-4"]), Deadline,
            "the old rows' key columns and the new row's columns are invalidated");
        await Eventually.AssertAsync(
            () => harness.Logs.Entries.Count(e => e.EventId == 3000 && e.Message.Contains("from the before image (UntrustedColumn", StringComparison.Ordinal)) >= 2,
            Deadline, "the old rows' other columns are reported as untrusted");
        var logged = harness.Logs.Entries.Where(e => e.EventId == 3000).Select(e => e.Message).ToList();
        Assert.Contains(logged, m => m.Contains("'seat:holder:{holder}' of public.seats", StringComparison.Ordinal) && m.Contains("REPLICA IDENTITY FULL", StringComparison.Ordinal));
        Assert.Contains(logged, m => m.Contains("'section:{section_id}' of public.seats", StringComparison.Ordinal) && m.Contains("REPLICA IDENTITY FULL", StringComparison.Ordinal));

        using var http = new WorkerHttp(host);
        var samples = PrometheusText.Parse(await http.MetricsAsync());
        double Unresolved(string template) => samples.Where(s => s.Name == "invalidator_unresolved_templates_total" && s.Has("table", "public.seats") && s.Has("template", template)).Sum(s => s.Value);
        Assert.Equal(2, Unresolved("seat:holder:{holder}")); // the delete's and the key change's old row
        Assert.Equal(2, Unresolved("section:{section_id}"));
        Assert.Equal(0, Unresolved("seat:{seat_no}"));
    }

    [Fact]
    public async Task Rules_check_suggests_the_field_for_a_default_identity_table_and_flags_it_on_a_full_one()
    {
        const string rules = """
            tables:
              public.seats:
                keys: ["seat:{seat_no}", "seat:holder:{holder}"]
              public.venues:
                keys: ["venue:{venue_id}", "venue:city:{city}"]
                replicaIdentity: default
              public.rows:
                keys: ["row:{row_id}", "row:label:{label}"]
                replicaIdentity: default
            """;
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, rules, "identcheck", """
            CREATE TABLE seats (seat_no int PRIMARY KEY, holder text NOT NULL DEFAULT '');
            CREATE TABLE venues (venue_id int PRIMARY KEY, city text NOT NULL);
            CREATE TABLE rows (row_id int PRIMARY KEY, label text);
            ALTER TABLE rows REPLICA IDENTITY FULL;
            CREATE PUBLICATION pub_identcheck FOR TABLE seats, venues, rows;
            """);

        var result = await CliFiles.InvokeAsync("rules", "check", harness.RulesPath, "--database", harness.ConnectionString,
            "--publication", harness.Publication, "--slot", harness.Slot);

        Assert.True(result.ExitCode == 0, result.ToString());
        var warnings = result.Output.Split('\n').Where(l => l.StartsWith("warning:", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, warnings.Count);
        var seats = Assert.Single(warnings, w => w.Contains("public.seats", StringComparison.Ordinal));
        Assert.Contains("REPLICA IDENTITY DEFAULT", seats, StringComparison.Ordinal);
        Assert.Contains("ALTER TABLE public.seats REPLICA IDENTITY FULL;", seats, StringComparison.Ordinal);
        Assert.Contains("add 'replicaIdentity: default' to its rule (line 2)", seats, StringComparison.Ordinal);
        var venues = Assert.Single(warnings, w => w.Contains("public.venues", StringComparison.Ordinal));
        Assert.Contains("city", venues, StringComparison.Ordinal);
        Assert.Contains("The rule declares 'replicaIdentity: default'", venues, StringComparison.Ordinal);
        Assert.DoesNotContain("add 'replicaIdentity: default'", venues, StringComparison.Ordinal);
        var rows = Assert.Single(warnings, w => w.Contains("public.rows", StringComparison.Ordinal));
        Assert.Contains("(line 7) declares 'replicaIdentity: default', but the table has REPLICA IDENTITY FULL", rows, StringComparison.Ordinal);
        Assert.Contains("Remove 'replicaIdentity: default'", rows, StringComparison.Ordinal);
    }
}
