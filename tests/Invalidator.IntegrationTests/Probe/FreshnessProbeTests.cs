using Invalidator.IntegrationTests.Diagnostics;
using Invalidator.IntegrationTests.Faults;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Invalidator.Worker.Events;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Probe;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Probe;

/// <summary>
/// The freshness probe in direct mode, on real servers: canaries written in both regions, the canary row updated in
/// Postgres, the change streamed through the slot and the built-in rule, the canaries deleted by the worker and timed
/// until gone. Region pgwest goes through a <see cref="RegionProxy"/>, so a test can cut it or slow it alone.
/// </summary>
[Collection(PostgresCollection.Name)]
public sealed class FreshnessProbeTests(PostgresFixture fixture, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);
    private const string East = "pgeast";
    private const string West = "pgwest";

    private static string Schema(string name) => $"""
        CREATE TABLE customers (id int PRIMARY KEY, name text);
        CREATE TABLE invalidator_canary (worker text PRIMARY KEY, seq bigint NOT NULL, written_at timestamptz NOT NULL);
        CREATE PUBLICATION pub_{name} FOR TABLE customers, invalidator_canary;
        """;

    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}"]
        """;

    [Fact]
    public async Task Healthy_regions_see_their_canaries_gone_within_the_objective_and_the_metrics_and_status_say_so()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "probeok", Schema("probeok"));
        var canaries = Probing(harness, objective: "00:00:03", deadline: "00:00:10");
        var host = await harness.StartAsync();

        await Eventually.AssertAsync(() => canaries.Of(East).Count >= 5 && canaries.Of(West).Count >= 5, Deadline, "both regions measure five canaries");

        foreach (var region in new[] { East, West })
        {
            output.WriteLine($"{region}: {canaries.Describe(region)}");
            Assert.All(canaries.Of(region), c => Assert.Equal(CanaryResult.Ok, c.Result));
        }

        // The canaries were the worker's: named by the built-in rule from the row the probe updated, under the region's prefix.
        var seq = await harness.ScalarAsync<long>("SELECT seq FROM invalidator_canary WHERE worker = 'probe-test'");
        Assert.True(seq >= 5, $"the row's seq is {seq}");
        Assert.Contains(canaries.Of(East), c => c.Canary.StartsWith("invalidator:canary:probe-test:", StringComparison.Ordinal));

        using var http = new WorkerHttp(host);
        var metrics = PrometheusText.Parse(await http.MetricsAsync());
        foreach (var region in new[] { East, West })
        {
            Assert.Contains(metrics, s => s.Name == "invalidator_freshness_probes_total" && s.Has("region", region) && s.Has("result", "ok") && s.Value >= 5);
            Assert.Contains(metrics, s => s.Name == "invalidator_freshness_probes_total" && s.Has("region", region) && s.Has("result", "lost") && s.Value == 0);
            Assert.Contains(metrics, s => s.Name == "invalidator_freshness_seconds_count" && s.Has("region", region) && s.Value >= 5);
        }

        var (_, status) = await http.GetStatusJsonAsync();
        var freshness = status.GetProperty("freshness");
        Assert.True(freshness.GetProperty("enabled").GetBoolean());
        var regions = freshness.GetProperty("regions").EnumerateArray().ToDictionary(r => r.GetProperty("region").GetString()!);
        Assert.Equal(1.0, regions[East].GetProperty("withinObjective").GetDouble());
        Assert.True(regions[West].GetProperty("p99Seconds").GetDouble() < 3);
        Assert.Equal("ok", regions[West].GetProperty("lastResult").GetString());
    }

    [Fact]
    public async Task A_cut_region_loses_its_canaries_while_the_other_stays_ok_and_recovers_when_it_is_back()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "probecut", Schema("probecut"));
        await using var proxy = new RegionProxy(Port(fixture.Redis.ConnectionString(1)));
        harness.Settings[$"Invalidator:Regions:{West}:Redis"] = proxy.ConnectionString + ",connectTimeout=500,syncTimeout=1000,asyncTimeout=1000";
        FaultSettings.ApplyFastResilience(harness.Settings, fixture.Regions);
        var canaries = Probing(harness, objective: "00:00:02", deadline: "00:00:04");
        await harness.StartAsync();
        await Eventually.AssertAsync(() => canaries.Of(East).Count(c => c.Result == CanaryResult.Ok) >= 3 && canaries.Of(West).Count(c => c.Result == CanaryResult.Ok) >= 3, Deadline, "both regions measure ok canaries before the cut");

        var cut = DateTimeOffset.UtcNow;
        proxy.Cut();
        var settled = cut + TimeSpan.FromSeconds(5);
        await Eventually.AssertAsync(
            () => canaries.Of(West, settled).Count(c => c.Result == CanaryResult.Lost) >= 3 && canaries.Of(East, settled).Count >= 3,
            Deadline,
            "the cut region's canaries are lost while the other measures its own");
        var restored = DateTimeOffset.UtcNow;
        output.WriteLine($"west while cut: {canaries.Describe(West, cut)}");
        output.WriteLine($"east while west was cut: {canaries.Describe(East, cut)}");
        // Rounds that started before the cut may still end any way (the deadline is 4 s); those decided after it are lost.
        Assert.DoesNotContain(canaries.Of(West, settled).Where(c => c.At < restored), c => c.Result != CanaryResult.Lost);
        var eastMeanwhile = canaries.Of(East, cut).Where(c => c.At < restored).ToList();
        Assert.True(eastMeanwhile.Count >= 3, $"east measured {eastMeanwhile.Count} canaries while west was cut");
        Assert.All(eastMeanwhile, c => Assert.Equal(CanaryResult.Ok, c.Result));

        proxy.Restore();
        await Eventually.AssertAsync(() => canaries.Of(West, restored).Count(c => c.Result == CanaryResult.Ok) >= 3, Deadline, "the region's canaries are ok again once it is back");
        output.WriteLine($"west after the restore: {canaries.Describe(West, restored)}");
    }

    [Fact]
    public async Task A_slowed_region_moves_its_freshness_histogram_and_the_other_region_does_not()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "probeslow", Schema("probeslow"));
        await using var proxy = new RegionProxy(Port(fixture.Redis.ConnectionString(1)));
        harness.Settings[$"Invalidator:Regions:{West}:Redis"] = proxy.ConnectionString;
        var canaries = Probing(harness, objective: "00:00:00.500", deadline: "00:00:10");
        var host = await harness.StartAsync();
        using var http = new WorkerHttp(host);
        await Eventually.AssertAsync(() => canaries.Of(East).Count >= 3 && canaries.Of(West).Count >= 3, Deadline, "both regions measure canaries before the slowdown");

        // 400 ms each way: the worker's delete reaches west 0.4 s late, and the probe hears of it 0.4 s later still.
        var slowed = DateTimeOffset.UtcNow;
        proxy.Delay = TimeSpan.FromMilliseconds(400);
        await Eventually.AssertAsync(() => canaries.Of(West, slowed).Count(c => c.Freshness >= TimeSpan.FromSeconds(0.8)) >= 2, Deadline, "west's canaries take the delay");
        // The histogram's samples as this worker's meter records them: /metrics shows every worker host of the test
        // process, and beside another host's instrument of the same name this one's was not exported in full CI runs.
        var samples = new System.Collections.Concurrent.ConcurrentQueue<(string Region, double Seconds)>();
        var meter = host.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>().Create(new System.Diagnostics.Metrics.MeterOptions(Invalidator.Worker.Diagnostics.InvalidatorMetrics.MeterName));
        using var listener = new System.Diagnostics.Metrics.MeterListener
        {
            InstrumentPublished = (instrument, l) =>
            {
                if (ReferenceEquals(instrument.Meter, meter) && instrument.Name == "invalidator_freshness_seconds")
                {
                    l.EnableMeasurementEvents(instrument);
                }
            },
        };
        listener.SetMeasurementEventCallback<double>((_, value, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "region" && tag.Value is string region)
                {
                    samples.Enqueue((region, value));
                }
            }
        });
        listener.Start();
        var from = DateTimeOffset.UtcNow;
        await Eventually.AssertAsync(() => canaries.Of(West, from).Count >= 5 && canaries.Of(East, from).Count >= 5, Deadline, "both regions measure five more canaries");
        await Eventually.AssertAsync(
            () => samples.Count(s => s.Region == West) >= 5 && samples.Any(s => s.Region == East && s.Seconds <= 0.5),
            Deadline,
            "the histogram records west's five slowed canaries and at least one fast one of east");
        output.WriteLine($"west slowed: {canaries.Describe(West, from)}");
        output.WriteLine($"east meanwhile: {canaries.Describe(East, from)}");

        Assert.All(canaries.Of(West, from), c => Assert.True(c.Freshness >= TimeSpan.FromSeconds(0.8), $"{c.Canary}: {c.Result} {c.Freshness}"));
        Assert.All(canaries.Of(West, from), c => Assert.Equal(CanaryResult.Late, c.Result));
        // The histogram: west's samples all land above 0.5 s (its 0.5 s bucket does not move), east's (the control) below it.
        Assert.All(samples.Where(s => s.Region == West), s => Assert.True(s.Seconds > 0.5, $"west sample {s.Seconds} s"));
        Assert.True(canaries.Of(East, from).Count(c => c.Result == CanaryResult.Ok) >= canaries.Of(East, from).Count / 2, canaries.Describe(East, from));
    }

    [Fact]
    public async Task FusionCache_and_output_cache_regions_measure_their_canaries_through_the_backplane_and_the_tag()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "probetargets", Schema("probetargets"));
        var unique = harness.KeyPrefix.TrimEnd(':');
        harness.Settings[$"Invalidator:Regions:{East}:Target"] = "FusionCache";
        harness.Settings[$"Invalidator:Regions:{East}:KeyPrefix"] = "";
        harness.Settings[$"Invalidator:Regions:{East}:FusionCache:CacheName"] = unique;
        harness.Settings[$"Invalidator:Regions:{East}:FusionCache:CacheKeyPrefix"] = unique + ":";
        harness.Settings[$"Invalidator:Regions:{West}:Target"] = "OutputCache";
        harness.Settings[$"Invalidator:Regions:{West}:KeyPrefix"] = "";
        harness.Settings[$"Invalidator:Regions:{West}:OutputCache:InstanceName"] = unique + ":";
        var canaries = Probing(harness, objective: "00:00:03", deadline: "00:00:10");
        await harness.StartAsync();

        await Eventually.AssertAsync(() => canaries.Of(East).Count >= 5 && canaries.Of(West).Count >= 5, Deadline, "both regions measure five canaries");
        output.WriteLine($"FusionCache: {canaries.Describe(East)}");
        output.WriteLine($"OutputCache: {canaries.Describe(West)}");
        // The first FusionCache canary too: it is written only once the probe's backplane is subscribed (FusionCacheCanaryTests).
        Assert.All(canaries.Of(East), c => Assert.Equal(CanaryResult.Ok, c.Result));
        Assert.All(canaries.Of(West), c => Assert.Equal(CanaryResult.Ok, c.Result));

        // Control: canaries written the same way whose row never changes stay, while the probe's own keep going.
        using var east = await fixture.Redis.ConnectAsync(0);
        using var west = await fixture.Redis.ConnectAsync(1);
        using var fusion = new FusionCacheCanary(East, new() { CacheName = unique, CacheKeyPrefix = unique + ":" }, east, Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        using var outputCache = new OutputCacheCanary(West, new() { InstanceName = unique + ":" }, west);
        await fusion.WriteAsync("invalidator:canary:control:1", TimeSpan.FromMinutes(1), default);
        await outputCache.WriteAsync("invalidator:canary:control:1", TimeSpan.FromMinutes(1), default);
        var written = DateTimeOffset.UtcNow;
        await Eventually.AssertAsync(() => canaries.Of(East, written).Count >= 3 && canaries.Of(West, written).Count >= 3, Deadline, "three more canaries each");
        Assert.False(await fusion.IsGoneAsync("invalidator:canary:control:1", default));
        Assert.False(await outputCache.IsGoneAsync("invalidator:canary:control:1", default));
    }

    [Fact]
    public async Task A_missing_canary_table_stops_the_start_with_the_DDL_to_create_it()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "probenotable",
            "CREATE TABLE customers (id int PRIMARY KEY, name text); CREATE PUBLICATION pub_probenotable FOR TABLE customers;");
        Probing(harness, objective: "00:00:01", deadline: "00:00:10");
        var host = await harness.StartAsync();
        var exit = host.Services.GetRequiredService<WorkerExit>();

        await Eventually.AssertAsync(() => exit.Reason is not null, Deadline, "the worker stops");
        Assert.Equal(ExitCodes.ConfigurationError, exit.Code);
        Assert.Contains("CREATE TABLE public.invalidator_canary (worker text PRIMARY KEY, seq bigint NOT NULL, written_at timestamptz NOT NULL);", exit.Reason, StringComparison.Ordinal);
        Assert.Contains($"ALTER PUBLICATION {harness.Publication} ADD TABLE public.invalidator_canary;", exit.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_canary_table_outside_the_publication_stops_the_start_with_the_fix_and_the_control_in_it_starts()
    {
        await using var harness = await PostgresWorkerHarness.CreateAsync(fixture, Rules, "probenopub", """
            CREATE TABLE customers (id int PRIMARY KEY, name text);
            CREATE TABLE invalidator_canary (worker text PRIMARY KEY, seq bigint NOT NULL, written_at timestamptz NOT NULL);
            CREATE PUBLICATION pub_probenopub FOR TABLE customers;
            """);
        var canaries = Probing(harness, objective: "00:00:03", deadline: "00:00:10");
        var host = await harness.StartAsync();
        var exit = host.Services.GetRequiredService<WorkerExit>();
        await Eventually.AssertAsync(() => exit.Reason is not null, Deadline, "the worker stops");
        Assert.Contains($"is not in publication {harness.Publication}", exit.Reason, StringComparison.Ordinal);
        Assert.Contains($"ALTER PUBLICATION {harness.Publication} ADD TABLE public.invalidator_canary;", exit.Reason, StringComparison.Ordinal);

        // Control: the fix it names makes the same worker start and measure (the stopped one lets go of the slot first).
        await WorkerHosts.StopAsync(host);
        await harness.ExecuteAsync($"ALTER PUBLICATION {harness.Publication} ADD TABLE invalidator_canary;");
        var fixedHost = await harness.StartAsync();
        await Eventually.AssertAsync(() => canaries.Of(East).Any(c => c.Result == CanaryResult.Ok), Deadline, "the fixed set-up measures an ok canary");
        Assert.Null(fixedHost.Services.GetRequiredService<WorkerExit>().Reason);
    }

    /// <summary>The probe on with a short interval, its events logged, under the worker name <c>probe-test</c>.</summary>
    private static CanaryLog Probing(PostgresWorkerHarness harness, string objective, string deadline)
    {
        var canaries = new CanaryLog();
        harness.Settings["Invalidator:Probe:Enabled"] = "true";
        harness.Settings["Invalidator:Probe:Interval"] = "00:00:00.250";
        harness.Settings["Invalidator:Probe:Objective"] = objective;
        harness.Settings["Invalidator:Probe:Deadline"] = deadline;
        harness.Services = services =>
        {
            services.AddSingleton<IWorkerEventListener>(canaries);
            services.AddSingleton(new ProbeWorkerName("probe-test"));
        };
        return canaries;
    }

    private static int Port(string connectionString) => int.Parse(connectionString.Split(',')[0].Split(':')[1], System.Globalization.CultureInfo.InvariantCulture);
}
