using Invalidator.Core.Coverage;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Worker.Cli;
using Invalidator.Worker.Cli.Audit;
using Invalidator.Worker.Cli.Diff;
using Invalidator.Worker.Cli.Replay;
using Invalidator.Worker.Processing;

namespace Invalidator.Worker.Tests.Cli;

/// <summary>
/// The CLI reports' JSON is a public contract: each report, with every field filled and every optional one null, must
/// come out exactly as the hand-written writer made it (field names, order, number formats, nulls, escaping).
/// </summary>
public sealed class ReportJsonTests
{
    [Fact]
    public void The_replay_summary_keeps_its_fields_order_and_formats()
    {
        var summary = new ReplaySummary
        {
            Window = new ReplayWindow(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero), new DateTimeOffset(2026, 3, 1, 13, 30, 15, 250, TimeSpan.Zero)),
            Topics = ["db.public.customers", "db.public.\"odd\" <topic>"],
            Partitions = 3,
            Table = "public.customers",
            Regions = ["east", "west"],
            DryRun = false,
            RulesVersion = "sha256:ab12",
            Ranges = [("db.public.customers[0]", 10, 20), ("db.public.customers[2]", 0, 5)],
            Keys = 12,
            Tags = 3,
            Batches = 2,
            RegionLetters = new Dictionary<string, int> { ["west"] = 1, ["east"] = 2 },
            Seconds = 1.23456,
        };
        summary.Counted(RecordOutcome.Poison);
        summary.Counted(RecordOutcome.Invalidated);
        summary.Counted(RecordOutcome.Invalidated);
        summary.Counted(RecordOutcome.NoRule);

        Assert.Equal(Golden.ReplayFull, Text(summary.ToJson()));
    }

    [Fact]
    public void The_replay_summary_writes_its_absent_fields_as_null_and_empty()
    {
        var summary = new ReplaySummary
        {
            Window = new ReplayWindow(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.FromHours(2)), null),
            Topics = [],
            Partitions = 0,
            Regions = ["east"],
            DryRun = true,
            RulesVersion = "v1",
            Ranges = [],
        };

        Assert.Equal(Golden.ReplayEmpty, Text(summary.ToJson()));
    }

    [Fact]
    public void The_audit_report_keeps_its_fields_order_and_formats()
    {
        var rules = RulesLoader.Parse("tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n", "rules.yaml");
        var uncovered = new UncoveredKeys();
        uncovered.Add("orders:17", TimeSpan.FromSeconds(90.1234));
        uncovered.Add("orders:18", TimeSpan.FromMilliseconds(1500));
        uncovered.Add("orders:19", null);
        uncovered.Add("stray\"key<é>", null);
        var east = new RegionAudit(
            "east", "app:", ["127.0.0.1:6379"], 9, 4, 1, 1, 2, 1, false, TimeSpan.FromMilliseconds(1234.5678),
            new Dictionary<string, long> { ["customer:{id}"] = 4, ["(lease keys of covered keys)"] = 1, ["unused"] = 0 }, uncovered);
        var west = new RegionAudit(
            "west", "", ["10.0.0.1:7001", "10.0.0.2:7002"], 0, 0, 0, 0, 0, 0, true, TimeSpan.Zero, new Dictionary<string, long>(), new UncoveredKeys());

        var report = new AuditReport(rules, PlaceholderMatching.WithinSegment, [east, west]);

        Assert.Equal(Golden.Audit, Text(report.ToJson()));
    }

    [Fact]
    public void The_diff_report_keeps_its_fields_order_and_nulls()
    {
        var report = new DiffReport("old.yaml", "new.yaml", "records.jsonl");
        var before = new RecordInvalidations("public.customers", "Invalidate", Set("customer:1", "customer:1:v1"), Set("t1"), null);
        var after = new RecordInvalidations("public.customers", "Invalidate", Set("customer:1", "customer:1:v2"), Set(), null);
        report.Add(new SourceRecord("records.jsonl:1", "db.public.customers", [], []), new RecordDifference(before, after));
        var heartbeat = new RecordInvalidations(null, "Heartbeat", Set(), Set(), null);
        report.Add(new SourceRecord("records.jsonl:2", "db.heartbeat", [], []), new RecordDifference(heartbeat, heartbeat));
        var poisoned = new RecordInvalidations(null, RecordInvalidations.PoisonOutcome, Set(), Set(), "no \"id\" column");
        report.Add(new SourceRecord("records.jsonl:3", "db.public.orders", [], []), new RecordDifference(heartbeat with { Outcome = "NoRule" }, poisoned));

        Assert.Equal(Golden.Diff, Text(report.ToJson()));
    }

    private static HashSet<string> Set(params string[] names) => new(names, StringComparer.Ordinal);

    private static string Text(string json) => json.ReplaceLineEndings("\n");
}
