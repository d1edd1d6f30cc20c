using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Worker.Diagnostics;
using Invalidator.Worker.Options;
using Invalidator.Worker.Processing;
using Invalidator.Worker.RulesReload;
using Invalidator.Worker.Events;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace Invalidator.Worker.Tests.RulesReload;

/// <summary>Reloading the rules file: a good file is swapped in whole, a bad one refused, and a batch keeps its version.</summary>
public sealed class RulesReloaderTests : IDisposable
{
    private const string Customers = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
            format: envelope
        """;

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 1, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly string _directory = Directory.CreateTempSubdirectory("rules-reload-").FullName;
    private readonly string _path;
    private readonly WorkerEvents _events;
    private readonly InvalidatorMetrics _metrics;

    public RulesReloaderTests()
    {
        _path = Path.Combine(_directory, "rules.yaml");
        File.WriteAllText(_path, Customers);
        _metrics = new InvalidatorMetrics(_services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        _events = new WorkerEvents([_metrics]);
    }

    public void Dispose()
    {
        _services.Dispose();
        Directory.Delete(_directory, recursive: true);
    }

    [Fact]
    public void A_changed_file_is_swapped_in_with_a_new_version_and_a_broken_one_is_refused()
    {
        var live = new LiveRules(LoadedRules.Load(_path, _time.GetUtcNow()));
        var reloader = new RulesReloader(live, _events, NullLoggerFactory.Instance, _time);
        var first = live.Current;
        Assert.Equal(LoadedRules.VersionOf(Customers), first.Version);

        Assert.Equal(RulesReloadResult.Unchanged, reloader.Reload(RulesReloader.FileChanged));
        Assert.Same(first, live.Current);

        var withOrders = Customers + "\n  public.orders:\n    keys: [\"order:{id}\"]\n";
        File.WriteAllText(_path, withOrders);
        _time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(RulesReloadResult.Applied, reloader.Reload(RulesReloader.Sighup));
        var second = live.Current;
        Assert.Equal(LoadedRules.VersionOf(withOrders), second.Version);
        Assert.Equal(_time.GetUtcNow(), second.LoadedAt);
        Assert.True(second.Rules.Tables.ContainsKey("public.orders"));
        var applied = live.LastReload!;
        Assert.Equal((_time.GetUtcNow(), "SIGHUP", RulesReloadResult.Applied, second.Version), (applied.At, applied.Trigger, applied.Result, applied.Version));
        Assert.Empty(applied.Errors);

        File.WriteAllText(_path, "tables:\n  public.customers:\n    keyz: [\"customer:{id}\"]\n");
        Assert.Equal(RulesReloadResult.Rejected, reloader.Reload(RulesReloader.FileChanged));
        Assert.Same(second, live.Current);
        var refused = live.LastReload!;
        Assert.Equal(RulesReloadResult.Rejected, refused.Result);
        Assert.Null(refused.Version);
        Assert.StartsWith($"{_path}:3:5: unknown field 'keyz'", Assert.Single(refused.Errors), StringComparison.Ordinal);

        File.Delete(_path);
        Assert.Equal(RulesReloadResult.Rejected, reloader.Reload(RulesReloader.FileChanged));
        Assert.Contains("rules file not found", Assert.Single(live.LastReload!.Errors), StringComparison.Ordinal);
        Assert.Same(second, live.Current);
    }

    [Fact]
    public void A_reload_that_adds_waitForReplicas_without_a_read_replica_is_refused_with_the_fix_and_the_old_rules_stay()
    {
        var live = new LiveRules(LoadedRules.Load(_path, _time.GetUtcNow()));
        // Through the constructor the host uses: the options as configured at start, no Invalidator:Consistency:ReadReplicas.
        var reloader = new RulesReloader(live, _events, NullLoggerFactory.Instance, _time, Microsoft.Extensions.Options.Options.Create(new InvalidatorOptions()));
        var before = live.Current;
        var waiting = Customers + "\n    waitForReplicas: true\n";
        File.WriteAllText(_path, waiting);

        Assert.Equal(RulesReloadResult.Rejected, reloader.Reload(RulesReloader.FileChanged));

        Assert.Same(before, live.Current);
        var refused = live.LastReload!;
        Assert.Null(refused.Version);
        var error = Assert.Single(refused.Errors);
        Assert.StartsWith($"{_path} says waitForReplicas: true for public.customers (line 2), but Invalidator:Consistency:ReadReplicas names no replica: " +
            "add Invalidator:Consistency:ReadReplicas:<name> = the connection string of each replica your applications read from", error, StringComparison.Ordinal);
        Assert.EndsWith("or remove waitForReplicas from the rules.", error, StringComparison.Ordinal);

        // The same file once replicas are configured (direct mode: no primary needed) is applied: the refusal was the replicas'.
        var withReplica = new ConsistencyOptions { ReadReplicas = { ["replica1"] = "Host=replica1;Database=app;Username=invalidator" } };
        Assert.Equal(RulesReloadResult.Applied, new RulesReloader(live, _events, NullLoggerFactory.Instance, _time, withReplica, ChangeSourceKind.Postgres).Reload(RulesReloader.Sighup));
        Assert.Equal(LoadedRules.VersionOf(waiting), live.Current.Version);
        Assert.True(live.Current.Rules.HasReplicaWaitRules);
    }

    [Fact]
    public void In_Kafka_mode_a_reload_that_adds_waitForReplicas_needs_the_primary_too()
    {
        var live = new LiveRules(LoadedRules.Load(_path, _time.GetUtcNow()));
        var replicas = new ConsistencyOptions { ReadReplicas = { ["replica1"] = "Host=replica1;Database=app;Username=invalidator" } };
        var before = live.Current;
        File.WriteAllText(_path, Customers + "\n    waitForReplicas: true\n");

        Assert.Equal(RulesReloadResult.Rejected, new RulesReloader(live, _events, NullLoggerFactory.Instance, _time, replicas, ChangeSourceKind.Kafka).Reload(RulesReloader.FileChanged));
        Assert.Same(before, live.Current);
        Assert.Contains("but Invalidator:Consistency:Primary is empty", Assert.Single(live.LastReload!.Errors), StringComparison.Ordinal);

        replicas.Primary = "Host=primary;Database=app;Username=invalidator";
        Assert.Equal(RulesReloadResult.Applied, new RulesReloader(live, _events, NullLoggerFactory.Instance, _time, replicas, ChangeSourceKind.Kafka).Reload(RulesReloader.FileChanged));
    }

    [Fact]
    public void Hostile_files_are_refused_within_the_limits_loaded_at_start_and_the_last_good_version_stays_live()
    {
        var live = new LiveRules(LoadedRules.Load(_path, _time.GetUtcNow(), new Invalidator.Core.Rules.RulesLimits { MaxBytes = 4096 }));
        var reloader = new RulesReloader(live, _events, NullLoggerFactory.Instance, _time);
        var good = live.Current;

        // Over the limit the worker started with (4 KiB here), not the default 1 MiB.
        File.WriteAllText(_path, Customers + "\n" + new string('#', 5000) + "\n");
        Assert.Equal(RulesReloadResult.Rejected, reloader.Reload(RulesReloader.Sighup));
        Assert.Contains("larger than 4096 bytes", Assert.Single(live.LastReload!.Errors), StringComparison.Ordinal);

        File.WriteAllText(_path, "tables:\n  public.customers:\n    keys: [\"c:{id}\"]\n    ops: [" + string.Join(",", Enumerable.Repeat("x", 1500)) + "]\n");
        Assert.Equal(RulesReloadResult.Rejected, reloader.Reload(RulesReloader.Sighup));
        Assert.Equal(50, live.LastReload!.Errors.Count);
        Assert.Equal(1500, live.LastReload.ErrorCount);

        File.WriteAllText(_path, "tables: " + new string('[', 3000) + "\n");
        Assert.Equal(RulesReloadResult.Rejected, reloader.Reload(RulesReloader.Sighup));
        Assert.Contains("deeper than 32 levels", Assert.Single(live.LastReload!.Errors), StringComparison.Ordinal);

        Assert.Same(good, live.Current);
    }

    [Fact]
    public void A_batch_is_planned_with_one_version_whose_decoder_hints_and_planner_swap_together()
    {
        var live = new LiveRules(LoadedRules.Load(_path, _time.GetUtcNow()));
        var planner = new RecordIntake(live, WorkerMode.Live, _events, NullLogger<RecordIntake>.Instance, _time);
        // An unwrapped row: poison while the rule says format: envelope, a change once it says unwrapped.
        var row = """{"id": 7, "__op": "u"}"""u8.ToArray();
        var key = """{"id": 7}"""u8.ToArray();
        var topic = "dbserver1.public.customers";

        var batch = new InvalidationBatch();
        Assert.True(planner.Add(topic, key, row, batch).IsPoison);

        File.WriteAllText(_path, Customers.Replace("format: envelope", "format: unwrapped", StringComparison.Ordinal) + "\n  public.orders:\n    keys: [\"order:{id}\"]\n");
        new RulesReloader(live, _events, NullLoggerFactory.Instance, _time).Reload(RulesReloader.FileChanged);

        // Swapped, but the batch being planned keeps its version until the source starts the next one.
        Assert.True(planner.Add(topic, key, row, batch).IsPoison);
        Assert.NotEqual(live.Current.Version, planner.Rules.Version);

        Assert.Same(live.Current, planner.UseLatestRules());
        var next = new InvalidationBatch();
        Assert.Equal(RecordOutcome.Invalidated, planner.Add(topic, key, row, next).Outcome);
        Assert.Equal(["customer:7"], next.Keys);
    }

    [Fact]
    public void A_shadow_plan_is_counted_and_never_added_to_the_batch()
    {
        File.WriteAllText(_path, """
            tables:
              public.customers:
                keys: ["customer:{id}"]
              public.orders:
                keys: ["order:{id}"]
                tags: ["customer-orders:{customer_id}"]
                shadow: true
            """);
        var live = new LiveRules(LoadedRules.Load(_path, _time.GetUtcNow()));
        var options = new InvalidatorOptions();
        var status = new WorkerStatus(Microsoft.Extensions.Options.Options.Create(options), _time);
        var events = new WorkerEvents([_metrics, status]);
        var perRule = new RecordIntake(live, WorkerMode.Live, events, NullLogger<RecordIntake>.Instance, _time);
        var everything = new RecordIntake(live, WorkerMode.Shadow, events, NullLogger<RecordIntake>.Instance, _time);
        var order = new ChangeEvent("public.orders", ChangeOperation.Update, null, Row(("id", "1"), ("customer_id", "7")), null, null);
        var customer = new ChangeEvent("public.customers", ChangeOperation.Update, null, Row(("id", "7")), null, null);

        var batch = new InvalidationBatch();
        Assert.Equal(RecordOutcome.Shadow, perRule.Add("t", order, batch).Outcome);
        Assert.Equal(RecordOutcome.Invalidated, perRule.Add("t", customer, batch).Outcome);
        Assert.Equal(["customer:7"], batch.Keys);
        Assert.Empty(batch.Tags);

        var shadowBatch = new InvalidationBatch();
        Assert.Equal(RecordOutcome.Shadow, everything.Add("t", customer, shadowBatch).Outcome);
        Assert.True(shadowBatch.IsEmpty);

        var tables = status.Shadow();
        // Examples are redacted by default: the template and a short hash of the key.
        Assert.Equal(new ShadowTableView("public.customers", 1, 1, 0, $"key customer:{{id}} #{KeyRedaction.Hash("customer:7")}", _time.GetUtcNow()), tables.Single(t => t.Table == "public.customers"));
        Assert.Equal(new ShadowTableView("public.orders", 1, 1, 1, $"key order:{{id}} #{KeyRedaction.Hash("order:1")}", _time.GetUtcNow()), tables.Single(t => t.Table == "public.orders"));
    }

    private static RowImage Row(params (string Column, string Value)[] columns) =>
        new(columns.Select(c => new KeyValuePair<string, ColumnValue>(c.Column, ColumnValue.Of(c.Value))));
}
